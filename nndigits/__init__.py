"""nndigits: chapter 1 of Nielsen's *Neural Networks and Deep Learning* in PyTorch Lightning."""

__version__ = "0.1.0"
