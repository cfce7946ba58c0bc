"""The training settings a page may send, checked field by field (a bad one is a 422 that names it).

Defaults are the book's run: one hidden layer of 30, eta = 3.0, m = 10, 30
epochs, and the train command's seed.  The bounds keep a run something a
laptop finishes: they are the page's limits, not the chapter's.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_LAYERS, MAX_NEURONS = 3, 1000


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    hidden: list[Annotated[int, Field(ge=1, le=MAX_NEURONS)]] = Field(
        default=[30], max_length=MAX_LAYERS, description="hidden layer sizes"
    )
    eta: float = Field(default=3.0, gt=0, le=100, description="learning rate eta")
    m: int = Field(default=10, ge=1, le=50_000, description="mini-batch size m")
    epochs: int = Field(default=30, ge=1, le=1000)
    seed: int = Field(default=1, ge=0, le=2**32 - 1)
