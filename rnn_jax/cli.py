"""Command-line entry points: flags from a config dataclass, clean errors for bad input."""

import os
import sys
from collections.abc import Callable
from typing import TypeVar

import tyro

from rnn_jax import train
from rnn_jax.ckpt import CheckpointError
from rnn_jax.data.mnist import DataUnavailableError
from rnn_jax.rundir import RunDirError

C = TypeVar("C")

# Errors that mean "bad input or missing data": shown as one line, no traceback.
USER_ERRORS = (DataUnavailableError, RunDirError, CheckpointError, ValueError, FileNotFoundError)


def run(config_cls: type[C], main: Callable[[C], object], args: list[str] | None = None) -> None:
    """Parse flags into ``config_cls`` (``--help`` documents each field) and call ``main``.

    Before JAX starts, splits a CPU into ``config.train.devices`` devices where that
    asks for more (:func:`rnn_jax.train.split_cpu`).
    """
    config = tyro.cli(config_cls, args=args)
    train.split_cpu(getattr(getattr(config, "train", None), "devices", 1))
    try:
        main(config)
    except USER_ERRORS as err:
        if os.environ.get("RNN_JAX_DEBUG"):
            raise
        print(f"error: {err}\n(set RNN_JAX_DEBUG=1 to see the traceback)", file=sys.stderr)
        sys.exit(2)
