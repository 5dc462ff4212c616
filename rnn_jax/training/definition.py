"""An experiment as one definition: its settings, its options, how it builds its
:class:`~rnn_jax.training.task.Task`, and how a trained run of it is used; the shared run
shell does the rest.

Each module under ``experiments/`` ends with ``EXPERIMENT = Experiment(...)``; the
``experiments`` package finds them by name for the command line, sweeps,
benchmarks and loaders (``experiments.find(name)``, ``experiments.load(run_dir)``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.errors import ConfigError
from rnn_jax.training import cli, experiment, loading, shipped
from rnn_jax.training.task import Task
from rnn_jax.typing import Params


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """What ``python -m experiments.NAME`` runs, and what its trained runs can do.

    Attributes:
      name: the module's name, its runs' folder (``runs/NAME/``) and the name saved in them.
      config: the settings dataclass (a run's result depends on these alone).
      make_task: ``(config, options) -> Task``.
      build: ``config -> model``, any object whose ``init(key)`` gives the parameters a run
        of ``config`` trains: what :meth:`load` checks saved parameters against.
      predict: ``(trained, inputs, **options) -> outputs``: what a trained model does for a
        user (:meth:`TrainedModel.predict`), with the inputs checked.
      sample: ``(trained, inputs, n=1, temperature=1.0, seed=0, ...) -> draws``, ``n`` per
        input, where the model is a distribution (:meth:`TrainedModel.sample`).
      log_prob: ``(trained, images, given=mask) -> nats [N]``: the log-likelihood of the
        pixels not given, where the model has one (:meth:`TrainedModel.log_prob`).
      options: how to run (paths, resume, ``--from``): ``RunOptions`` or a subclass.
      preflight: ``(config, options) -> None``, raising a ``UserError`` for what would
        fail only after training (e.g. a missing ``--classifier`` file).
    """

    name: str
    config: type
    make_task: Callable[[Any, Any], Task]
    build: Callable[[Any], Any]
    predict: Callable[..., Any]
    sample: Callable[..., Any] | None = None
    log_prob: Callable[..., Any] | None = None
    options: type = experiment.RunOptions
    preflight: Callable[[Any, Any], None] | None = None

    def train_and_evaluate(self, config: Any = None, options: Any = None) -> dict:
        """Train ``config`` (default settings if omitted) and report its best checkpoint; with
        ``--generate --from RUN`` report that run instead, with ``--pretrained`` the shipped
        model (where the options have these flags)."""
        config = self.config() if config is None else config
        options = self.options() if options is None else options
        if self.preflight is not None:
            self.preflight(config, options)
        from_run = getattr(options, "from_run", None)
        generate = getattr(options, "generate", from_run is not None)
        if getattr(options, "pretrained", False):
            if generate:
                raise ConfigError("pass --generate --from RUN_DIR or --pretrained, not both")
            trained = self.pretrained(getattr(options, "pretrained_variant", None))
            folder = Path(options.workdir or f"runs/{self.name}/pretrained")
            (folder / "figures").mkdir(parents=True, exist_ok=True)
        elif generate:
            if not from_run:
                raise ConfigError(f"--generate needs --from RUN_DIR (a trained {self.name} run)")
            trained = self.load(from_run)
            folder = experiment.report_folder(from_run, options.workdir)
        else:
            return experiment.run(self.make_task(config, options), options)
        task = self.make_task(trained.config, options)  # the saved settings, not the flags'
        run = trained.run
        return experiment.report(task, folder, trained.params, run.step, run.metrics)

    def load(self, run_dir: str | Path, which: str = "best") -> "TrainedModel":
        """The ``best`` (or ``latest``) parameters of a run of this experiment, ready to use."""
        return self.trained(loading.load_run(run_dir, self.name, which))

    def pretrained(self, variant: str | None = None) -> "TrainedModel":
        """The model of this experiment shipped with the package (:mod:`.shipped`), or its
        ``variant`` (shipped as ``NAME_VARIANT``)."""
        return self.trained(shipped.load(f"{self.name}_{variant}" if variant else self.name))

    def trained(self, run: loading.TrainedRun) -> "TrainedModel":
        """``run`` with its model rebuilt from its saved settings.

        Raises:
          ParamsMismatchError: the parameters do not fit that model.
        """
        config = run.typed(self.config)
        model = self.build(config)
        like = jax.eval_shape(model.init, jax.random.PRNGKey(0))
        loading.check_params(run.params, like, run.source)
        params = jax.tree.map(jnp.asarray, run.params)
        return TrainedModel(experiment=self, config=config, model=model, params=params, run=run)

    def main(self, args: list[str] | None = None) -> None:
        """The command line: flags from the settings and options, one-line errors."""
        cli.run(self.config, self.options, self.train_and_evaluate, args)


@dataclass(frozen=True, kw_only=True)
class TrainedModel:
    """A trained run of an experiment, ready to use.

    >>> trained = experiments.load("runs/translate/default")   # or experiments.pretrained(NAME)
    >>> trained.predict(["Monday 22nd of April 2019"])
    ['2019-04-22']
    """

    experiment: Experiment
    config: Any  # the run's settings, as the experiment's config dataclass
    model: Any  # ``experiment.build(config)``
    params: Params
    run: loading.TrainedRun  # where it came from, its step and validation metrics

    @property
    def step(self) -> int:
        return self.run.step

    def predict(self, *inputs: Any, **options: Any) -> Any:
        """What the experiment's model does with ``inputs`` (its module's ``predict``)."""
        return self.experiment.predict(self, *inputs, **options)

    def sample(self, *inputs: Any, **options: Any) -> Any:
        """``n`` draws per input from the model's distribution (its module's ``sample``)."""
        return self._distribution("sample")(self, *inputs, **options)

    def log_prob(self, *inputs: Any, **options: Any) -> Any:
        """The log-likelihood of the pixels not given, in nats (its module's ``log_prob``)."""
        return self._distribution("log_prob")(self, *inputs, **options)

    def _distribution(self, what: str) -> Callable[..., Any]:
        fn = getattr(self.experiment, what)
        if fn is None:
            raise TypeError(f"a {self.experiment.name} model has no {what}: it is no distribution")
        return fn


def expect(array: Any, shape: tuple[int | None, ...], what: str) -> np.ndarray:
    """``array`` as a NumPy array, after checking its shape (``None``: any size there), for a
    ``predict`` to say at once what it takes.

    Raises:
      ValueError: ``expected images [N, 64, 64], got shape (3, 28, 28)``.
    """
    array = np.asarray(array)
    if array.ndim != len(shape) or any(
        w is not None and w != n for w, n in zip(shape, array.shape)
    ):
        want = ", ".join(
            "N" if i == 0 and w is None else "?" if w is None else str(w)
            for i, w in enumerate(shape)
        )
        raise ValueError(f"expected {what} [{want}], got shape {array.shape}")
    return array
