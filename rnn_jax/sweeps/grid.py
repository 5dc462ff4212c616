"""Sweeps: grids of runs from ``--set path=values`` axes, named by their values, and tables.

A sweep is the product of its axes (``model.cell=rnn,gru,lstm``,
``model.hidden=32,64``, ``seed=0:3``); every member is an ordinary run of the
experiment with those settings, in its own run directory
``runs/sweeps/<name>/<axis=value,...>/``, so every loader works on it.
:func:`collect` gathers the members' final figures into one table with the mean
and standard deviation over seeds.
"""

import dataclasses
import itertools
import json
import math
import os
import tomllib
import typing
from pathlib import Path
from typing import Any

import numpy as np

from rnn_jax.errors import ConfigError
from rnn_jax.training import members, rundir

Assignment = dict[str, Any]  # "model.hidden" -> (64,)


@dataclasses.dataclass(frozen=True)
class Axis:
    """One swept setting: a dotted path into the config and its values, in order."""

    path: str
    values: tuple


def _field_type(config_cls: type, path: str) -> Any:
    """The type hint of the dotted ``path`` in ``config_cls``; ConfigError naming the choices."""
    cls = config_cls
    parts = path.split(".")
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        if part not in hints:
            where = ".".join(parts[:i]) or "the config"
            raise ConfigError(
                f"--set {path}: {where} has no setting {part!r}; choose one of {sorted(hints)}"
            )
        hint = hints[part]
        if i < len(parts) - 1:
            if not dataclasses.is_dataclass(hint):
                raise ConfigError(f"--set {path}: {'.'.join(parts[: i + 1])} is not a section")
            cls = hint
    if dataclasses.is_dataclass(hint):
        raise ConfigError(f"--set {path} names a section; name one of its settings")
    return hint


def _parse_value(text: str, hint: Any, path: str) -> Any:
    """One value of ``path`` from its text: ints, floats, bools, strings, ``None``, and
    tuples of ints written with ``+`` (``--set model.hidden=64+64``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if text == "None" and type(None) in args:
        return None
    if origin is typing.Union or (origin is not None and type(None) in args):
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    try:
        if origin is tuple:
            return tuple(_parse_value(part, args[0], path) for part in text.split("+"))
        if hint is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if hint in (int, float, str):
            return hint(text)
    except ValueError:
        name = getattr(hint, "__name__", str(hint))
        raise ConfigError(f"--set {path}: {text!r} is not a {name}") from None
    raise ConfigError(f"--set {path}: cannot sweep a setting of type {hint}")


def parse_axis(spec: str, config_cls: type) -> Axis:
    """``"path=v1,v2,..."`` (or ``"path=a:b"``, the ints ``a .. b-1``) as an :class:`Axis`.

    Raises:
      ConfigError: no ``=``, an unknown path, an empty axis, or a value that does not parse.
    """
    path, sep, text = spec.partition("=")
    path = path.strip().replace("-", "_")
    if not sep or not path:
        raise ConfigError(f"--set {spec!r}: write PATH=VALUES, e.g. model.hidden=32,64,128")
    hint = _field_type(config_cls, path)
    items = [t.strip() for t in text.split(",") if t.strip()]
    if len(items) == 1 and ":" in items[0] and hint is int:
        lo, _, hi = items[0].partition(":")
        try:
            values = tuple(range(int(lo), int(hi)))
        except ValueError:
            raise ConfigError(f"--set {spec!r}: a range is two ints, START:STOP") from None
    else:
        values = tuple(_parse_value(t, hint, path) for t in items)
    if not values:
        raise ConfigError(f"--set {spec!r} gives no values; list at least one")
    if len(set(values)) != len(values):
        raise ConfigError(f"--set {spec!r} lists a value twice")
    return Axis(path, values)


FILE_KEYS = ("experiment", "name", "data_dir", "devices", "sequential", "set")


def read_file(path: str | Path) -> dict[str, Any]:
    """A sweep file (TOML): its settings by :data:`FILE_KEYS`, with ``set`` as ``--set``
    texts. Axes are lists (``"model.hidden" = [32, 64]``) or ``--set`` texts
    (``seed = "0:3"``), under dotted names, quoted or as tables::

        experiment = "mnist_classifier"
        [set]
        "model.cell" = ["rnn", "gru", "lstm"]
        seed = "0:3"

    Raises:
      ConfigError: a file that is missing or not TOML, an unknown key, an axis with no values.
    """
    try:
        spec = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"sweep file {path}: {err}") from None
    unknown = sorted(set(spec) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"sweep file {path}: unknown keys {unknown}; use {list(FILE_KEYS)}")

    def texts(table: dict, prefix: str = "") -> list[str]:
        out = []
        for key, values in table.items():
            if isinstance(values, dict):
                out += texts(values, f"{prefix}{key}.")
            elif isinstance(values, list):
                out.append(f"{prefix}{key}=" + ",".join(str(v) for v in values))
            else:
                out.append(f"{prefix}{key}={values}")
        return out

    return {**spec, "set": texts(spec.get("set", {}))}


def expand(axes: list[Axis]) -> list[Assignment]:
    """Every combination of the axes' values, the last axis varying fastest."""
    paths = [a.path for a in axes]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"a setting is swept twice: {paths}")
    members = [dict(zip(paths, combo)) for combo in itertools.product(*(a.values for a in axes))]
    names = [run_name(m) for m in members]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ConfigError(
            f"two runs of the sweep would share the folder {twice!r} (files of one name in "
            "two folders?); give the values distinct names"
        )
    return members


def apply(config: Any, assignment: Assignment) -> Any:
    """``config`` (a frozen dataclass) with the assignment's settings replaced."""
    for path, value in assignment.items():
        config = _replace(config, path.split("."), value)
    return config


def _replace(config: Any, parts: list[str], value: Any) -> Any:
    head, *rest = parts
    inner = value if not rest else _replace(getattr(config, head), rest, value)
    return dataclasses.replace(config, **{head: inner})


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return "+".join(map(str, value))
    # A file's path names its run by the file alone: run names are folder names.
    return Path(value).name if isinstance(value, str) and "/" in value else str(value)


def run_name(assignment: Assignment) -> str:
    """``"cell=gru,hidden=64,seed=1"``: each setting by its last name (the full path where
    two axes share one) and its value (a file path by its file name)."""
    last = [p.rsplit(".", 1)[-1] for p in assignment]
    names = [
        k if last.count(k.rsplit(".", 1)[-1]) > 1 else k.rsplit(".", 1)[-1] for k in assignment
    ]
    return ",".join(f"{n}={_text(v)}" for n, v in zip(names, assignment.values()))


# Settings that members of one compiled program may differ in: the seed, and the optimizer's
# injected hyper-parameters (rnn_jax.training.optim). Of the clip norm, only whether it is on shapes
# the program.
def groups(assignments: list[Assignment]) -> list[list[Assignment]]:
    """The assignments grouped by :func:`rnn_jax.training.members.program_key` (what one
    compiled program can train together), in order of first appearance."""
    out: dict[tuple, list[Assignment]] = {}
    for a in assignments:
        out.setdefault(members.program_key(a), []).append(a)
    return list(out.values())


def prepare(folder: str | Path, experiment: str, axes: list[Axis]) -> Path:
    """Create the sweep folder with ``sweep.json`` (experiment and axes), or check that an
    existing one was made with the same ones.

    Raises:
      ConfigError: the folder holds a sweep of another experiment or other axes.
    """
    folder = Path(folder)
    spec = {"experiment": experiment, "axes": {a.path: [_text(v) for v in a.values] for a in axes}}
    path = folder / "sweep.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != spec:
            raise ConfigError(
                f"{folder} holds a sweep of {saved['experiment']} over {saved['axes']}, not "
                f"{spec['experiment']} over {spec['axes']}; choose another --name"
            )
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    # Atomically: the processes of a shared-out sweep may all write it at once.
    tmp = path.with_name(f"sweep.json.{os.getpid()}")
    tmp.write_text(json.dumps(spec, indent=2) + "\n")
    os.replace(tmp, path)
    return folder


def status(run_dir: Path) -> str:
    """``"done"`` (results written), ``"failed"`` (``failed.json``: it diverged or its
    settings do not work), ``"partial"`` (started: resumed from its last checkpoint, or from
    step 0 when it stopped before the first) or ``"new"``."""
    if (run_dir / "results.json").is_file():
        return "done"
    if (run_dir / "failed.json").is_file():
        return "failed"
    return "partial" if (run_dir / "config.json").is_file() else "new"


def _members(folder: Path) -> list[tuple[Assignment, Path]]:
    """Every member of the sweep in ``folder``: its settings (as text) and run directory."""
    axes = json.loads((folder / "sweep.json").read_text())["axes"]
    assignments = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    return [(a, folder / run_name(a)) for a in assignments]


def runs(folder: str | Path) -> list[Path]:
    """The run directories of every member of the sweep in ``folder`` (finished or not)."""
    return [run for _, run in _members(Path(folder))]


def collect(folder: str | Path) -> list[dict]:
    """One row per finished member: its swept settings (as text), validation and test
    figures (``val/<name>``, ``test/<name>``) at its best step."""
    rows = []
    for assignment, run in _members(Path(folder)):
        if status(run) != "done":
            continue
        results = json.loads((run / "results.json").read_text())
        row = {"run": run.name, **assignment, **results.get("val", {})}
        for r in rundir.read_metrics(run):
            if r["split"] == "test" and r["step"] == results["best_step"]:
                row[f"test/{r['name']}"] = r["value"]
        rows.append(row)
    return rows


def summarize(rows: list[dict], axes: list[str]) -> list[dict]:
    """Mean and standard deviation (over seeds) of every figure, per configuration."""
    keys = [a for a in axes if a != "seed"]
    figures = sorted({k for r in rows for k in r if "/" in k})
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    table = []
    for config, runs in out.items():
        entry = {**dict(zip(keys, config)), "seeds": len(runs)}
        for f in figures:
            values = [r[f] for r in runs if f in r and math.isfinite(r[f])]
            if values:
                entry[f] = (float(np.mean(values)), float(np.std(values)))
        table.append(entry)
    return table


def markdown(table: list[dict]) -> str:
    """The :func:`summarize` table as Markdown, figures as ``mean ± std``."""
    if not table:
        return "(no finished runs)\n"
    cols = list(dict.fromkeys(k for row in table for k in row))
    cell = lambda v: f"{v[0]:.4g} ± {v[1]:.2g}" if isinstance(v, tuple) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in cols) + " |" for row in table]
    return "\n".join(lines) + "\n"
