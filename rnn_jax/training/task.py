"""What an experiment hands the shared run shell (:func:`rnn_jax.training.experiment.run`).

An experiment module builds a :class:`Task` from its config (model, loss,
evaluation, training arrays, the metric that picks the best checkpoint, and a
report of the test figures); the shell does everything else the same way for
every experiment: run directory, checkpoints, resume, NaN stop, progress bar,
learning curves, ``results.json`` and the test row of ``metrics.jsonl``.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import numpy as np
import tyro

from rnn_jax.data import mnist
from rnn_jax.errors import ConfigError
from rnn_jax.recurrent import cells
from rnn_jax.training import checks
from rnn_jax.training.optim import OptimConfig
from rnn_jax.training.train import LossFn
from rnn_jax.typing import Params, PRNGKey

MODES = ("max", "min")

CellName = Annotated[
    str,
    tyro.conf.arg(help=cells.describe()),
    checks.Check(lambda name: name in cells.CELLS, f"one of {tuple(cells.CELLS)}"),
]
"""A config field naming a registered cell; its help and its check come from the registry."""


@dataclass(frozen=True)
class TrainConfig(OptimConfig):
    """The shared part of every experiment's ``train`` section: the optimizer and devices."""

    devices: Annotated[int, checks.count] = 1
    """Split each batch over N devices (data parallel); on a CPU, N devices of one core
    each."""


@dataclass(frozen=True)
class EpochTrainConfig(TrainConfig):
    """A ``train`` section counted in passes over the training examples (:func:`by_epochs`)."""

    epochs: Annotated[int, checks.count] = 10
    """Passes over the training examples."""
    batch_size: Annotated[int, checks.count] = 32
    """Examples per step."""


@dataclass(frozen=True)
class Config:
    """The settings every experiment has; each subclasses it with its own sections (a
    ``train`` section subclassing :class:`TrainConfig`) and fields."""

    train: TrainConfig = TrainConfig()
    seed: int = 0
    """Seed for the data the experiment draws, initialisation and shuffling."""


@dataclass(frozen=True)
class MnistConfig(Config):
    """:class:`Config` of an experiment built from MNIST digits."""

    synthetic: Annotated[int, checks.non_negative] = 0
    """Use N synthetic digit images instead of MNIST (smoke tests)."""

    def digits(self, data_dir: str | None, val_size: int) -> dict[str, dict[str, np.ndarray]]:
        """Train, validation and test images and labels (:func:`rnn_jax.data.mnist.splits`),
        ``val_size`` training images held out by the seed; synthetic ones with
        ``synthetic``."""
        return mnist.splits(
            data_dir, val_size=val_size, seed=self.seed, synthetic_size=self.synthetic
        )


class Schedule(NamedTuple):
    """When a run steps, evaluates and logs."""

    steps: int  # optimizer steps of the whole run
    eval_every: int  # steps between evaluations (each writes a checkpoint)
    log_every: int  # steps between training log points


def by_epochs(train: EpochTrainConfig, examples: int, *, evals: int = 1, logs: int = 4) -> Schedule:
    """``train.epochs`` passes of ``examples // train.batch_size`` steps, with ``evals``
    evaluations and ``logs`` log points per pass (at least one step apart)."""
    per_epoch = examples // train.batch_size
    return Schedule(
        steps=per_epoch * train.epochs,
        eval_every=max(per_epoch // evals, 1),
        log_every=max(per_epoch // logs, 1),
    )


def curve(
    name: str, x: Sequence, y: Sequence, xlabel: str, ylabel: str, title: str, logy: bool = False
) -> dict[str, Any]:
    """A results entry (``results["curve"]``) that a sweep draws for every configuration,
    mean ± std over its seeds, in ``figures/<name>.png`` (:mod:`scripts.sweep`); ``logy``
    for a log scale."""
    return {
        "name": name,
        "x": [str(v) if isinstance(v, str) else float(v) for v in x],
        "y": [None if v is None else float(v) for v in y],
        "xlabel": xlabel,
        "ylabel": ylabel,
        "title": title,
        "logy": logy,
    }


class Report(NamedTuple):
    """An experiment's test figures for its best parameters."""

    results: dict[str, Any]  # written to results.json (with the best step and val metrics)
    test: dict[str, float]  # the test row of metrics.jsonl, at the best step
    summary: str  # printed at the end of the run


@dataclass(frozen=True)
class Task:
    """One training run, as an experiment describes it.

    Attributes:
      experiment: the experiment's name (``runs/<experiment>/...``).
      config: its frozen config dataclass, saved as ``config.json``: exactly the
        settings that determine the result. ``config.seed`` seeds initialisation
        and shuffling; ``config.train`` is a :class:`TrainConfig`.
      init: ``key -> params``.
      loss_fn: ``(params, batch, key) -> (loss, metrics)`` (batch means).
      train_data: arrays with one example per row; batches are drawn from them.
      batch_size: examples per step.
      schedule: steps, evaluation and log intervals (:func:`by_epochs` for most).
      evaluate: ``params -> {name: value}`` on the validation split; a
        :class:`rnn_jax.training.train.Validation` where the split is scored by batch sums
        (a sweep group then scores all its members in one vmapped call).
      best: the name in ``evaluate``'s metrics that picks the best checkpoint.
      mode: ``"max"`` or ``"min"``: whether larger ``best`` is better.
      report: ``(params, run_dir) -> Report``: test figures, plots, tables.
      curves: metric names plotted in ``figures/curves.png``.
      steps_per_call: steps run per compiled call (``lax.scan`` over batches).
      echo: a name for the loss to print at every log point (classic logs).
    """

    experiment: str
    config: Any
    init: Callable[[PRNGKey], Params]
    loss_fn: LossFn
    train_data: Mapping[str, np.ndarray]
    batch_size: int
    schedule: Schedule
    evaluate: Callable[[Params], dict[str, float]]
    best: str
    mode: str
    report: Callable[[Params, Path], Report]
    curves: tuple[str, ...] = ("loss",)
    steps_per_call: int = 1
    echo: str | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        n = len(next(iter(self.train_data.values())))
        if self.batch_size > n:
            raise ConfigError(
                f"--train.batch-size {self.batch_size} exceeds the {n} training examples"
            )
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(
                f"a run needs at least one step of at least one example, got {self.steps} "
                f"steps of {self.batch_size}; raise the steps / epochs or the batch size"
            )

    @property
    def steps(self) -> int:
        return self.schedule.steps

    @property
    def eval_every(self) -> int:
        return self.schedule.eval_every

    @property
    def log_every(self) -> int:
        return self.schedule.log_every

    @property
    def best_metric(self) -> str:
        """``"val/<best>"``: the checkpoints' key for the best metric."""
        return f"val/{self.best}"
