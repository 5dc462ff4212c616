"""Run directories: ``config.json``, ``metrics.jsonl``, ``ckpt/`` and ``figures/``.

Layout of ``runs/<experiment>/<run-name>/``::

    config.json     experiment name, every setting, git commit, start time
    metrics.jsonl   one row per value: {"step", "split", "name", "value", "time"}
    ckpt/<step>/    orbax checkpoints (state + meta)
    figures/        PNGs
"""

import dataclasses
import json
import os
import subprocess
import time
import typing
from pathlib import Path
from typing import Any, TypeVar

from rnn_jax.errors import UserError

T = TypeVar("T")


class RunDirError(UserError, ValueError):
    """A run directory that cannot be used as asked (wrong experiment, missing, exists)."""


def git_commit() -> str | None:
    """The current git commit of the code, if it runs from a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """The finished checkpoints' steps in ``run_dir/ckpt``. Orbax writes each step into a
    temporary folder and renames it to the bare step number once complete, so a folder
    left by an interrupted save (``<step>.orbax-checkpoint-tmp...``) is not one."""
    folder = Path(run_dir) / "ckpt"
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir())


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so an interruption
    leaves the old file or the new one, never a truncated one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(cls: type[T], data: dict) -> T:
    """Rebuild a (nested, frozen) dataclass config from :func:`config_to_dict` output."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(hint):
            value = config_from_dict(hint, value)
        elif typing.get_origin(hint) is tuple and value is not None:
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _saved(run_dir: str | Path, experiment: str = "<experiment>") -> dict:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise RunDirError(
            f"{run_dir} is not a run directory (no config.json); pass the folder a training run "
            f"wrote, e.g. runs/{experiment}/<run-name>"
        )
    return json.loads(path.read_text())


def experiment_of(run_dir: str | Path) -> str:
    """The name of the experiment whose run ``run_dir`` holds.

    Raises:
      RunDirError: if the directory has no ``config.json``.
    """
    return _saved(run_dir)["experiment"]


def read_run(run_dir: str | Path, experiment: str) -> dict:
    """A run's ``config.json`` (settings, best metric), after checking it belongs to
    ``experiment``.

    Raises:
      RunDirError: if the directory has no ``config.json`` or is another experiment's.
    """
    saved = _saved(run_dir, experiment)
    if saved.get("experiment") != experiment:
        raise RunDirError(
            f"{run_dir} holds a run of experiment {saved.get('experiment')!r}, not {experiment!r}; "
            f"pass a run directory of {experiment}"
        )
    return saved


def prepare(
    run_dir: str | Path,
    experiment: str,
    config: Any,
    *,
    resume: bool,
    best: dict | None = None,
    write: bool = True,
) -> Path:
    """Create (or, with ``resume``, reopen) a run directory and write ``config.json``
    (with ``write=False``, the checks alone: the other processes of a multi-process run).

    ``config.json`` holds the experiment's name, ``config`` (every setting that
    determines the result, and nothing else), the metric that picks the best
    checkpoint (``best``: ``{"metric", "mode"}``), the git commit and the start time.

    Raises:
      RunDirError: a fresh run into a directory that already holds a run (with
        checkpoints, or stopped before its first), a resume of a directory without
        ``config.json`` or of another experiment, or a resume with different settings.
        A resume of a run that stopped before its first checkpoint starts it again.
    """
    run_dir = Path(run_dir)
    has_ckpt = bool(checkpoint_steps(run_dir))
    if resume:
        saved = read_run(run_dir, experiment)["config"]
        mine = json.loads(json.dumps(config_to_dict(config)))  # tuples -> lists, as saved
        diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
        if diff:
            raise RunDirError(
                f"--resume with settings that differ from the saved run in {diff}; resume with "
                f"the saved settings (see {run_dir / 'config.json'}) or start a new run directory"
            )
        return run_dir
    if has_ckpt:
        raise RunDirError(
            f"{run_dir} already holds checkpoints; pass --resume to continue it or choose "
            "another --workdir"
        )
    if (run_dir / "config.json").is_file():
        raise RunDirError(
            f"{run_dir} holds a run that stopped before its first checkpoint; pass --resume to "
            "start it again from step 0 with its saved settings, or choose another --workdir"
        )
    if not write:
        return run_dir
    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    meta = {
        "experiment": experiment,
        "config": config_to_dict(config),
        "best": best,
        "git_commit": git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    (run_dir / "metrics.jsonl").write_text("")
    write_atomic(run_dir / "config.json", json.dumps(meta, indent=2) + "\n")
    return run_dir


class MetricsLog:
    """Appends rows ``{"step", "split", "name", "value", "time"}`` to ``metrics.jsonl``.

    On resume from ``step``, rows after it (written by the interrupted run past
    its last checkpoint) are dropped, so the file reads as one uninterrupted run.
    With ``tensorboard`` (a folder) every row also goes to TensorBoard event files
    as the scalar ``split/name`` (tensorboardX); ``metrics.jsonl`` stays the record.
    Not ``enabled``, it writes nothing.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        resume_step: int | None = None,
        tensorboard: str | Path | None = None,
        enabled: bool = True,
    ):
        self.path, self.enabled = Path(path), enabled
        if enabled and resume_step is not None and self.path.exists():
            rows = [json.loads(line) for line in self.path.read_text().splitlines() if line]
            kept = [r for r in rows if r["step"] <= resume_step]
            write_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.t0 = time.time()
        self.board = None
        if enabled and tensorboard is not None:
            from tensorboardX import SummaryWriter

            self.board = SummaryWriter(str(tensorboard))

    def write(self, step: int, split: str, values: dict[str, float]) -> None:
        if not self.enabled:  # another process of a multi-process run writes
            return
        now = round(time.time() - self.t0, 3)
        with self.path.open("a") as f:
            for name, value in values.items():
                row = {"step": step, "split": split, "name": name, "value": value, "time": now}
                f.write(json.dumps(row) + "\n")
                if self.board is not None:
                    self.board.add_scalar(f"{split}/{name}", value, step)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def read_metrics(run_dir: str | Path) -> list[dict]:
    """All rows of a run's ``metrics.jsonl``."""
    text = (Path(run_dir) / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line]
