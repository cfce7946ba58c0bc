"""Using a trained network: images preprocessed like MNIST, classification, reading a line of digits."""
