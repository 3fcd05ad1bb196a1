"""Errors that the command line reports as bad input (exit code 2) rather than as crashes."""


class InputError(ValueError):
    """Bad input to a computation: the message says which file, record or field and why."""


class ConvergenceError(InputError):
    """An iterative estimator did not converge; no number is returned."""
