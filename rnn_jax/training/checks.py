"""Ranges and choices declared next to the config fields they constrain, checked once.

A field says what it accepts in its annotation::

    lr: Annotated[float, checks.positive] = 1e-3
    hidden: Annotated[tuple[int, ...], checks.at_least(1)] = (128,)

tyro ignores the marker; :func:`validate` (called by the shared CLI for every
experiment, and by sweeps for every member, before any work) reads it and turns
the first bad value into one :class:`ConfigError` that names the flag, what it
accepts and what it got. A tuple is checked element by element; ``None`` (an
optional setting left out) always passes.
"""

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rnn_jax.errors import ConfigError


@dataclass(frozen=True)
class Check:
    """A test of one value and how to say what passes it."""

    ok: Callable[[Any], bool]
    accepts: str  # e.g. "> 0", "in [0, 1)", "one of ('lstm', 'gru')"


def at_least(low: float) -> Check:
    return Check(lambda v: v >= low, f">= {low}")


def between(low: float, high: float, *, high_open: bool = False) -> Check:
    """``low <= v <= high`` (``< high`` when ``high_open``)."""
    if high_open:
        return Check(lambda v: low <= v < high, f"in [{low}, {high})")
    return Check(lambda v: low <= v <= high, f"in [{low}, {high}]")


def one_of(*choices: Any) -> Check:
    return Check(lambda v: v in choices, f"one of {choices}")


positive = Check(lambda v: v > 0, "> 0")
count = at_least(1)  # sizes, steps, epochs, devices
non_negative = at_least(0)
rate = between(0.0, 1.0, high_open=True)  # dropout and other fractions
port = between(1, 65535)


def host_port(value: str) -> bool:
    host, _, number = value.rpartition(":")
    return bool(host) and number.isdigit() and 1 <= int(number) <= 65535


address = Check(host_port, "HOST:PORT with a port in 1-65535")


def validate(settings: Any, prefix: str = "--") -> None:
    """Check every field of the (nested) dataclass ``settings`` against its declared checks.

    Raises:
      ConfigError: the first value that fails, as ``--train.lr must be > 0, got -1.0``.
    """
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        flag = prefix + field.name.replace("_", "-")
        if dataclasses.is_dataclass(value):
            validate(value, flag + ".")
            continue
        for check in declared(type(settings), field.name):
            values = value if isinstance(value, tuple) else (value,)
            if any(v is not None and not check.ok(v) for v in values):
                shown = " ".join(map(str, value)) if isinstance(value, tuple) else value
                each = "each of " if isinstance(value, tuple) else ""
                raise ConfigError(f"{each}{flag} must be {check.accepts}, got {shown}")


def declared(cls: type, name: str) -> list[Check]:
    """The checks on field ``name`` of ``cls`` and of every class it derives from, so a
    section that only changes a default (``lr: float = 2e-3``) keeps its base's checks."""
    found = []
    for klass in cls.__mro__:
        if name in getattr(klass, "__annotations__", {}):
            hint = typing.get_type_hints(klass, include_extras=True)[name]
            found += [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Check)]
    return found
