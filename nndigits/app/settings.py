"""The training settings a page may send, checked field by field (a bad one is a 422 that names it).

Defaults are the book's run and the bounds are the ones the flags of ``python -m nndigits.train`` and
``nndigits.fit`` check, all from ``chapter.py``: a number the command takes, the page takes.  Whether the
network fits in memory is asked where the run starts (``api.py``), as ``train`` asks before it trains.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..chapter import (
    EPOCHS,
    EPOCHS_BOUND,
    ETA,
    ETA_BOUND,
    HIDDEN,
    M_BOUND,
    MAX_LAYERS,
    NEURONS_BOUND,
    SEED,
    SEED_BOUND,
    Bound,
    M,
)


def within(bound: Bound) -> AfterValidator:
    """A pydantic check that is ``bound.check``: the same bound and the same words as the flags."""
    return AfterValidator(lambda value: bound.check(value, ""))


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    hidden: list[Annotated[int, within(NEURONS_BOUND)]] = Field(
        default=list(HIDDEN), max_length=MAX_LAYERS, description="hidden layer sizes"
    )
    eta: Annotated[float, within(ETA_BOUND)] = Field(default=ETA, description="learning rate eta")
    m: Annotated[int, within(M_BOUND)] = Field(default=M, description="mini-batch size m")
    epochs: Annotated[int, within(EPOCHS_BOUND)] = EPOCHS
    seed: Annotated[int, within(SEED_BOUND)] = SEED
