"""The chapter's studies: perceptrons, gradient descent, the from-scratch reference, sweeps, test lines."""
