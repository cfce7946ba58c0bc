"""The torch-free core: what ``predict`` and ``read`` need, in NumPy and the standard library only.

``import torch`` alone costs seconds on a small CPU, and a command that reads one image must answer in a
fraction of one.  So the book's network in NumPy (``scratch``), the checkpoint reader that needs no torch
(``checkpoints``, ``checkpoint_numpy``) and the machine's limits (``machine``: CPUs, memory, whether a
network fits) live here, below everything that imports torch.  An import-linter contract (pyproject.toml)
keeps torch, torchvision and Lightning out of this package and out of everything ``predict`` and ``read``
import; the chapter's facts (``nndigits/chapter.py``) are the one layer below it.
"""
