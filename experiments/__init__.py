"""The experiments, one module each (``python -m experiments.NAME``): the registry that the
command line, sweeps, benchmarks and loaders use. Every module here that defines
``EXPERIMENT`` (an :class:`rnn_jax.training.definition.Experiment`) is one.

>>> import experiments
>>> experiments.load("runs/translate/default").predict(["Monday 22nd of April 2019"])
['2019-04-22']
>>> experiments.pretrained("mnist_classifier").predict(images)   # uint8 [N, 28, 28] -> [N]
"""

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from rnn_jax.errors import ConfigError
from rnn_jax.training import rundir
from rnn_jax.training.definition import Experiment, TrainedModel


def names() -> list[str]:
    """Every experiment's name (its module's), found in this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def find(name: str) -> Experiment:
    """The experiment called ``name``.

    Raises:
      ConfigError: for an unknown name, listing the known ones.
    """
    if name not in names():
        raise ConfigError(f"unknown experiment {name!r}; choose one of {names()}")
    return importlib.import_module(f"{__name__}.{name}").EXPERIMENT


def load(run_dir: str | Path, which: str = "best") -> TrainedModel:
    """The trained run in ``run_dir``, of whichever experiment wrote it, ready to
    ``predict``; ``which``: its ``best`` or ``latest`` checkpoint."""
    return find(rundir.experiment_of(run_dir)).load(run_dir, which)


def pretrained(name: str, variant: str | None = None) -> TrainedModel:
    """The model of experiment ``name`` shipped with the package (or its ``variant``, e.g.
    ``pretrained("mnist_gen", "bernoulli")``)."""
    return find(name).pretrained(variant)


def trained(name: str, source: str) -> TrainedModel:
    """``source``: a run directory of experiment ``name``, or ``"pretrained"`` for the
    shipped model (what a ``--classifier`` flag takes)."""
    return find(name).pretrained() if source == "pretrained" else find(name).load(source)


def check_classifier(config: Any, options: Any) -> None:
    """The ``preflight`` of an experiment with a ``--classifier`` option (a mnist_classifier
    run directory, or ``pretrained``): the classifier loads now, not after training."""
    if options.classifier:
        trained("mnist_classifier", options.classifier)
