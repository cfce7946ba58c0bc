"""Shared fixtures.  Tests that need MNIST go through the real fetch path into the shared cache."""

import pytest
import torch


@pytest.fixture(scope="session")
def mnist_train():
    """MNIST's 60,000 training images (float32, (N, 784)) and labels, via ``fetch_mnist`` and the shared cache."""
    from nndigits.learn.mnist import load_split

    return load_split(train=True)


@pytest.fixture(scope="session")
def mnist_test():
    from nndigits.learn.mnist import load_split

    return load_split(train=False)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensor ops are fastest on one thread, and results then do not depend on the core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
