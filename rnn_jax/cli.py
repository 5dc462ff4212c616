"""Command-line entry points: flags from config dataclasses, clean errors for bad input."""

import dataclasses
import os
import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import tyro

from rnn_jax import distributed, parallel
from rnn_jax.errors import UserError

C = TypeVar("C")
O = TypeVar("O")  # noqa: E741


def parse(config_cls: type[C], options_cls: type[O], args: list[str] | None = None) -> tuple[C, O]:
    """Flags of both dataclasses side by side (``--model.hidden``, ``--workdir``); ``--help``
    documents each field. The config is what determines a result; the options are how to
    run (paths, resume) and are never saved with it."""
    fields = [
        (name, Annotated[cls, tyro.conf.arg(name="")], dataclasses.field(default=cls()))
        for name, cls in (("config", config_cls), ("options", options_cls))
    ]
    flags = dataclasses.make_dataclass("Flags", fields, frozen=True)
    parsed = tyro.cli(flags, args=args, description=config_cls.__doc__)
    return parsed.config, parsed.options


def run(
    config_cls: type[C],
    options_cls: type[O],
    main: Callable[[C, O], object],
    args: list[str] | None = None,
) -> None:
    """Parse the flags and call ``main(config, options)``; a :class:`UserError` is shown as
    one line (no traceback) and exits with status 2.

    Before JAX starts, splits a CPU into ``config.train.devices`` devices where that
    asks for more (:func:`rnn_jax.parallel.split_cpu`), and joins a multi-process run
    where ``options.dist`` describes one (:func:`rnn_jax.distributed.initialize`).
    """
    config, options = parse(config_cls, options_cls, args)
    parallel.split_cpu(getattr(getattr(config, "train", None), "devices", 1))
    try:
        distributed.initialize(getattr(options, "dist", distributed.DistOptions()))
        main(config, options)
    except UserError as err:
        if os.environ.get("RNN_JAX_DEBUG"):
            raise
        print(f"error: {err}\n(set RNN_JAX_DEBUG=1 to see the traceback)", file=sys.stderr)
        sys.exit(2)
