"""Command-line entry points: flags from config dataclasses, clean errors for bad input."""

import contextlib
import dataclasses
import gc
import io
import os
import re
import sys
from collections.abc import Callable
from typing import Annotated, NoReturn, TypeVar

import tyro
from tqdm.auto import tqdm

from rnn_jax.errors import UserError
from rnn_jax.training import checks, distributed, parallel

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
    said = io.StringIO()
    module = sys.modules.get(config_cls.__module__)
    # tyro reads the field docstrings with ast.parse. On CPython 3.11 a parse interrupted
    # by a garbage collection (finalizers run Python code, and another thread may parse
    # meanwhile) can fail with "AST constructor recursion depth mismatch" (CPython issue
    # 106905; seen once in tests/test_cli.py), so no collection runs during it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with contextlib.redirect_stderr(said):
            parsed = tyro.cli(
                flags,
                args=args,
                prog=_prog(module),
                description=getattr(module, "__doc__", None) or config_cls.__doc__,
            )
    except SystemExit as stop:
        if stop.code:
            fail(parse_error(said.getvalue()))
        raise
    finally:
        if collecting:
            gc.enable()
    return parsed.config, parsed.options


def _prog(module) -> str | None:
    """``python -m NAME`` for a module run that way (``__main__`` keeps its real name in its
    spec), so that ``--help`` shows the command to type, not a file path."""
    spec = getattr(module, "__spec__", None)
    return f"python -m {spec.name}" if spec is not None else None


def parse_error(box: str) -> str:
    """tyro's boxed parse error as one line: what is wrong and the closest valid flag."""
    lines = [line.strip(" │╭╮╰╯─") for line in box.splitlines()]
    lines = [line.strip() for line in lines if line.strip()]
    what = next((line for line in lines if ":" in line and "helptext" not in line), box.strip())
    close = [line.split()[0] for line in lines if re.match(r"--[a-z]", line)]
    hint = f"; did you mean {close[0]}?" if close and "Unrecognized" in what else ""
    return f"{what}{hint} (--help lists every flag)"


def run(
    config_cls: type[C],
    options_cls: type[O],
    main: Callable[[C, O], object],
    args: list[str] | None = None,
) -> None:
    """Parse the flags and call ``main(config, options)``; a :class:`UserError` is shown as
    one line (no traceback) and exits with status 2.

    Before JAX starts, splits a CPU into ``config.train.devices`` devices where that
    asks for more (:func:`rnn_jax.training.parallel.split_cpu`), and joins a multi-process run
    where ``options.dist`` describes one (:func:`rnn_jax.training.distributed.initialize`).
    """
    config, options = parse(config_cls, options_cls, args)
    try:
        checks.validate(config)
        checks.validate(options)
    except UserError as err:
        fail(err)
    parallel.split_cpu(getattr(getattr(config, "train", None), "devices", 1))
    try:
        distributed.initialize(getattr(options, "dist", distributed.DistOptions()))
        main(config, options)
    except UserError as err:
        if os.environ.get("RNN_JAX_DEBUG"):
            raise
        fail(err, "\n(set RNN_JAX_DEBUG=1 to see the traceback)")
    except OSError as err:  # the file system: a workdir that is a file, read-only, full
        if os.environ.get("RNN_JAX_DEBUG"):
            raise
        where = f": {err.filename}" if err.filename else ""
        fail(
            f"{err.strerror or err}{where}; fix the folder (or free space) and run again "
            "(--resume continues a run that has started)",
            code=3,
        )
    except Exception as err:  # another process failed before training began
        if distributed.is_peer_lost(err):
            distributed.stop_after_lost_peer(err)
        raise


def _bar_open() -> bool:
    """Whether a progress bar still holds the terminal's current line."""
    return bool(getattr(tqdm, "_instances", ()))


def fail(err: Exception | str, hint: str = "", code: int = 2) -> NoReturn:
    """Print ``error: <message>`` on a line of its own (after any progress bar) and exit with
    ``code``: 2 for bad input, 3 for a fault of the machine (the file system)."""
    print(f"\nerror: {err}{hint}" if _bar_open() else f"error: {err}{hint}", file=sys.stderr)
    sys.exit(code)
