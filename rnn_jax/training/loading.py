"""Trained runs back from their directories: settings and parameters, with neither the
experiment's code nor its data (:mod:`rnn_jax.pretrained` gives shipped models the same
way; :meth:`rnn_jax.training.definition.Experiment.load` rebuilds a usable model)."""

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import jax

from rnn_jax.errors import UserError
from rnn_jax.training import rundir
from rnn_jax.training.ckpt import CheckpointError, Checkpoints
from rnn_jax.typing import Params

C = TypeVar("C")


class ParamsMismatchError(UserError, ValueError):
    """Parameters that do not fit the model their config describes."""


@dataclass(frozen=True)
class TrainedRun:
    """A trained run's settings and parameters, from its directory or a shipped model."""

    experiment: str
    config: dict  # the settings as saved; :meth:`typed` rebuilds the config dataclass
    params: Params
    step: int
    metrics: dict[str, float]  # the validation metrics at ``step``
    source: str  # where it came from: a run directory or a pretrained file

    def typed(self, config_cls: type[C]) -> C:
        """The saved settings as ``config_cls``."""
        return rundir.config_from_dict(config_cls, self.config)


def load_run(folder: str | Path, experiment: str, which: str = "best") -> TrainedRun:
    """A run's saved settings and its ``best`` (by the metric the run chose) or ``latest``
    parameters; needs neither the experiment's code nor its data.

    Raises:
      RunDirError: not a run directory, or another experiment's.
      CheckpointError: the run has no checkpoint, or it cannot be read.
    """
    if which not in ("best", "latest"):
        raise ValueError(f"which must be 'best' or 'latest', got {which!r}")
    saved = rundir.read_run(folder, experiment)
    best = saved.get("best") or {}
    ckpts = Checkpoints(
        Path(folder) / "ckpt", best_metric=best.get("metric"), best_mode=best.get("mode", "max")
    )
    try:
        if not ckpts.steps():
            raise CheckpointError(f"{folder} has no checkpoint; train it first")
        step = ckpts.best_step() if which == "best" else ckpts.latest_step()
        state, meta = ckpts.restore(step, None)
    finally:
        ckpts.close()
    return TrainedRun(
        experiment=experiment,
        config=saved["config"],
        params=state["params"],
        step=step,
        metrics=meta.get("metrics", {}),
        source=str(folder),
    )


def check_params(params: Params, like: Params, source: str) -> None:
    """Raise :class:`ParamsMismatchError` unless ``params`` has the structure and shapes of
    ``like`` (e.g. ``jax.eval_shape`` of the model's init)."""

    def shapes(tree: Params) -> dict[str, tuple]:
        leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
        return {jax.tree_util.keystr(k): (tuple(x.shape), str(x.dtype)) for k, x in leaves}

    got, want = shapes(params), shapes(like)
    if got != want:
        diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
        raise ParamsMismatchError(
            f"the parameters in {source} do not fit the model its config describes "
            f"(they differ in {diff[:6]}); the file is from another version or was altered: "
            "retrain, or reinstall the package"
        )
