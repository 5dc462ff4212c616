"""The experiments, one module each (``python -m experiments.NAME``): the registry that the
command line, sweeps, benchmarks and loaders use. Every module here that defines
``EXPERIMENT`` (an :class:`rnn_jax.training.definition.Experiment`) is one."""

import importlib
import pkgutil

from rnn_jax.errors import ConfigError
from rnn_jax.training.definition import Experiment


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
