"""The library's user-error classes: bad input or missing data, each with what to do about it.

The command line (:mod:`rnn_jax.training.cli`) shows a :class:`UserError` as its message
alone and exits with status 2; any other exception is a bug and keeps its
traceback.
"""


class UserError(Exception):
    """Bad input, a bad setting or missing data; the message names the problem and the fix."""


class ConfigError(UserError, ValueError):
    """A setting (flag) that cannot work, alone or with the others."""


class DivergedError(UserError, FloatingPointError):
    """Training produced NaN or Inf."""
