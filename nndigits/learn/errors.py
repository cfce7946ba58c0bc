"""The error a run raises when it cannot start as asked: defined here, below everything that raises it."""


class RunError(Exception):
    """A run that cannot start as asked (bad settings, no GPU, unwritable log dir); the message says why."""
