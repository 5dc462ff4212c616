"""An experiment as one definition: its settings, its options and how it builds its
:class:`~rnn_jax.training.task.Task`; the shared run shell does the rest.

Each module under ``experiments/`` ends with ``EXPERIMENT = Experiment(...)``; the
``experiments`` package finds them by name for the command line, sweeps,
benchmarks and loaders (``experiments.find(name)``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rnn_jax.errors import ConfigError
from rnn_jax.training import cli, experiment
from rnn_jax.training.task import Task


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """What ``python -m experiments.NAME`` runs.

    Attributes:
      name: the module's name, its runs' folder (``runs/NAME/``) and the name saved in them.
      config: the settings dataclass (a run's result depends on these alone).
      make_task: ``(config, options) -> Task``.
      options: how to run (paths, resume, ``--from``): ``RunOptions`` or a subclass.
      preflight: ``(config, options) -> None``, raising a ``UserError`` for what would
        fail only after training (e.g. a missing ``--classifier`` file).
      entry: ``(config, options) -> results`` for runs other than train-or-report
        (e.g. mnist_gen's ``--pretrained``); it may call :meth:`train_or_report`.
    """

    name: str
    config: type
    make_task: Callable[[Any, Any], Task]
    options: type = experiment.RunOptions
    preflight: Callable[[Any, Any], None] | None = None
    entry: Callable[[Any, Any], dict] | None = None

    def train_and_evaluate(self, config: Any = None, options: Any = None) -> dict:
        """Train ``config`` (default settings if omitted) and report its best checkpoint; with
        ``--from RUN`` (and ``--generate`` where the options have it), report that run."""
        config = self.config() if config is None else config
        options = self.options() if options is None else options
        if self.preflight is not None:
            self.preflight(config, options)
        if self.entry is not None:
            return self.entry(config, options)
        return self.train_or_report(config, options)

    def train_or_report(self, config: Any, options: Any) -> dict:
        """Train and report, or report the trained run ``options.from_run`` (rebuilt from its
        saved settings, not the flags')."""
        from_run = getattr(options, "from_run", None)
        if not getattr(options, "generate", from_run is not None):
            return experiment.run(self.make_task(config, options), options)
        if not from_run:
            raise ConfigError(f"--generate needs --from RUN_DIR (a trained {self.name} run)")
        saved = experiment.load_run(from_run, self.name)
        task = self.make_task(saved.typed(self.config), options)
        folder = experiment.report_folder(from_run, options.workdir)
        return experiment.report(task, folder, saved.params, saved.step, saved.metrics)

    def main(self, args: list[str] | None = None) -> None:
        """The command line: flags from the settings and options, one-line errors."""
        cli.run(self.config, self.options, self.train_and_evaluate, args)
