"""nndigits: chapter 1 of Nielsen's *Neural Networks and Deep Learning* in PyTorch Lightning.

The Python API (``nndigits/api.py``) is reachable from here -- ``nndigits.fit``,
``nndigits.load``, ``nndigits.mnist``, ``nndigits.Network`` -- but loaded only on
first use (PEP 562 ``__getattr__``): ``import nndigits`` must not import torch
or Lightning, so that every command's ``--help`` stays instant.
"""

__version__ = "0.1.0"

_API = frozenset({"fit", "load", "mnist", "one_step", "Network", "History", "Data", "MNIST", "ImageError"})

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'nndigits' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
