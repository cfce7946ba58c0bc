"""The network and its training: the sigmoid network, SGD, MNIST, the LightningModule, logs and checkpoints."""
