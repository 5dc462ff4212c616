"""Autoregressive MNIST completion: see the top 14 rows, draw the other 14 one row at a time.

    python -m experiments.mnist_gen                               # train + evaluate (defaults)
    python -m experiments.mnist_gen --data-dir DIR                # offline: the 4 MNIST files
    python -m experiments.mnist_gen --pretrained                  # the shipped model, no training
    python -m experiments.mnist_gen --mode window                 # the course's sliding window
    python -m experiments.mnist_gen --from RUN_DIR --generate     # reuse a trained run
    python -m experiments.mnist_gen --classifier RUN_DIR          # also: does the digit survive?
    python -m experiments.mnist_gen --help

The model (2 LSTM layers of 128 and 256, Dense(100, relu), Dense(28)) generates
in one of two ``--mode`` s: ``teacher`` carries the LSTM state forward and feeds each
predicted row back in; ``window`` (the course's) re-reads a sliding window of 14
rows for every new row. ``--train.objective``: ``next_row`` (the course's: the
MSE of each next real row), ``rollout`` (default: the MSE of the generated bottom
half, backpropagated through the generation), or ``both``. All 10k test bottom
halves are generated and scored by per-pixel MSE next to four baselines.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

import experiments
from rnn_jax import plotting
from rnn_jax.data import mnist
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation.baselines import completion_baselines
from rnn_jax.models import sample
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.training import checks, experiment, task
from rnn_jax.training.definition import Experiment, expect

NAME = "mnist_gen"
ROWS, GIVEN = 28, 14
MODES = ("teacher", "window")
OBJECTIVES = ("next_row", "rollout", "both")


@dataclass(frozen=True)
class ModelConfig:
    cell: task.CellName = "lstm"
    hidden: Annotated[tuple[int, ...], checks.count] = (128, 256)
    """Hidden units of each recurrent layer (the course: 128 then 256; quick version: 10 10)."""
    head: Annotated[tuple[int, ...], checks.count] = (100,)
    """Hidden widths of the relu MLP between the last RNN output and the 28 pixels."""
    output: str = "sigmoid"
    """Output activation for the pixels in [0, 1]: sigmoid, or linear (the course's)."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    steps: Annotated[int, checks.count] = 4000
    """Optimizer steps."""
    batch_size: Annotated[int, checks.count] = 64
    """Images per step."""
    lr: float = 2e-3
    """Peak learning rate of Adam (the course: 5e-4, constant)."""
    objective: str = "rollout"
    """next_row (predict each next real row: the course's), rollout (the generated bottom
    half against the real one, backpropagated through the generation), or both (their sum)."""
    eval_every: Annotated[int, checks.count] = 500
    """Steps between validation generations (checkpoint points)."""
    val_size: Annotated[int, checks.count] = 5000
    """Training images held out (fixed by the seed); the first 1000 choose the checkpoint."""


@dataclass(frozen=True)
class Config(task.MnistConfig):
    """Train an LSTM that completes MNIST digits from their top 14 rows, row by row."""

    mode: str = "teacher"
    """teacher (predict every next row, carry the state) or window (course: 14-row window)."""
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


@dataclass(frozen=True)
class Options(experiment.ReportOptions):
    pretrained: bool = False
    """Generate and evaluate with the model shipped in the package (no training); results
    go to --workdir (default runs/mnist_gen/pretrained)."""
    classifier: str | None = None
    """A mnist_classifier run directory, or 'pretrained': also report its accuracy on the
    completed images."""


def take_windows(images: jax.Array, starts: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The course's (window, next row) pairs: ``x = img[i : i+14]``, ``y = img[i+14]``.

    ``images [B, 28, 28]``, ``starts [B]`` in ``0 .. 13``; returns ``x [B, 14, 28]``, ``y [B, 28]``.
    """
    take = jax.vmap(lambda img, i: jax.lax.dynamic_slice_in_dim(img, i, GIVEN + 1))
    chunk = take(images, starts)
    return chunk[:, :GIVEN], chunk[:, GIVEN]


class Completer:
    """Model functions for one config: the loss and jitted generation of bottom halves."""

    def __init__(self, config: Config):
        for name, value, known in (
            ("--mode", config.mode, MODES),
            ("--train.objective", config.train.objective, OBJECTIVES),
            ("--model.output", config.model.output, ("sigmoid", "linear")),
        ):
            if value not in known:
                raise ConfigError(f"unknown {name} {value!r}; choose one of {known}")
        m = config.model
        self.config = config
        self.model = SequenceModel(ROWS, ROWS, cell=m.cell, hidden=tuple(m.hidden), head=m.head)
        self.init = self.model.init
        self.complete = jax.jit(self._complete)

    def out(self, z: jax.Array, key: jax.Array | None = None) -> jax.Array:
        return jax.nn.sigmoid(z) if self.config.model.output == "sigmoid" else z

    def loss_fn(self, params, batch, key):
        images = mnist.pixels(batch["image"])
        objective, losses = self.config.train.objective, {}
        if objective in ("next_row", "both"):
            losses["next_row"] = self.next_row_loss(params, images, key)
        if objective in ("rollout", "both"):
            generated = self._complete(params, images[:, :GIVEN])
            losses["rollout"] = jnp.mean((generated[:, GIVEN:] - images[:, GIVEN:]) ** 2)
        return sum(losses.values()), losses if objective == "both" else {}

    def next_row_loss(self, params, images, key):
        """MSE of the next real row: every row given rows 1..t (teacher), or a random window's."""
        if self.config.mode == "teacher":
            xs, ys = images[:, :-1], images[:, 1:]
            pred = self.out(self.model.apply_seq(params, xs))
        else:
            # One random window per image and step; over the run every window is drawn.
            starts = jax.random.randint(key, (images.shape[0],), 0, ROWS - GIVEN)
            xs, ys = take_windows(images, starts)
            pred = self.out(self.model.apply_last(params, xs))
        return jnp.mean((pred - ys) ** 2)

    def _complete(self, params, top: jax.Array) -> jax.Array:
        """Complete ``top [B, 14, 28]`` (floats in [0, 1]) to ``[B, 28, 28]`` (one scan)."""
        steps = ROWS - top.shape[1]
        if self.config.mode == "teacher":
            carries, z = self.model.warm_up(params, top)
            step = lambda c, row: self.model.step(params, c, row)  # noqa: E731
            rows = sample.carry_forward(step, carries, z, steps, feedback=self.out)
        else:
            predict = lambda window: self.model.apply_last(params, window)  # noqa: E731
            rows = sample.sliding_window(predict, top, steps, feedback=self.out)
        return jnp.concatenate([top, jnp.clip(rows, 0.0, 1.0)], axis=1)

    def complete_all(self, params, images: np.ndarray, batch: int = 1000) -> np.ndarray:
        """Completions of the top halves of many uint8 images, as floats ``[N, 28, 28]``."""
        tops = [
            mnist.pixels(jnp.asarray(images[i : i + batch, :GIVEN]))
            for i in range(0, len(images), batch)
        ]
        return np.concatenate([np.asarray(self.complete(params, t)) for t in tops])


def bottom_mse(generated: np.ndarray, images: np.ndarray) -> float:
    """Per-pixel MSE of the bottom halves (generated floats vs. real uint8 images)."""
    return float(np.mean((generated[:, GIVEN:] - mnist.pixels(images[:, GIVEN:])) ** 2))


def make_task(config: Config, options: Options) -> task.Task:
    """Training on the top and bottom halves; validation and test by whole completions."""
    completer = Completer(config)
    data = config.digits(options.data_dir, config.train.val_size)
    val = data["val"]["image"][:1000]

    def report(params, run_dir: Path) -> task.Report:
        test, labels = data["test"]["image"], data["test"]["label"]
        generated = completer.complete_all(params, test)
        table = {"model": bottom_mse(generated, test)}
        guesses = completion_baselines(
            mnist.pixels(data["train"]["image"]), mnist.pixels(test), GIVEN
        )
        for name, bottom in guesses.items():
            table[name] = bottom_mse(
                np.concatenate([mnist.pixels(test[:, :GIVEN]), bottom], 1), test
            )
        results = {"mode": config.mode, "test_bottom_mse": table, "n_test": len(test)}
        lines = [f"\nper-pixel MSE of the generated bottom half, {len(test)} test images:"]
        lines += [f"  {name:<40} {value:.4f}" for name, value in table.items()]
        if options.classifier:
            predict = experiments.trained("mnist_classifier", options.classifier).predict
            accuracy = {
                "real images": float(np.mean(predict(test) == labels)),
                "real top + generated bottom": float(np.mean(predict(generated) == labels)),
            }
            results["classifier_accuracy"] = accuracy
            lines += [f"  classifier accuracy, {k:<27} {v:.4f}" for k, v in accuracy.items()]
        pick = [int(np.flatnonzero(labels == c)[0]) for c in range(10) if np.any(labels == c)]
        figure = plotting.plot_completions(
            mnist.pixels(test[pick]),
            GIVEN,
            generated[pick],
            labels[pick],
            run_dir / "figures" / "completions.png",
        )
        results["figure"] = str(figure)
        return task.Report(
            results, {"gen_mse": table["model"]}, "\n".join([*lines, f"figure: {figure}"])
        )

    return task.Task(
        experiment=NAME,
        config=config,
        init=completer.model.init,
        loss_fn=completer.loss_fn,
        train_data={"image": data["train"]["image"]},
        batch_size=config.train.batch_size,
        schedule=task.Schedule(config.train.steps, config.train.eval_every, log_every=100),
        evaluate=lambda params: {"gen_mse": bottom_mse(completer.complete_all(params, val), val)},
        best="gen_mse",
        mode="min",
        report=report,
        curves=("loss", "gen_mse"),
    )


def predict(trained, top: np.ndarray) -> np.ndarray:
    """The images whose top halves are ``top [N, 14, 28]`` (in [0, 1], or uint8), completed
    row by row: ``[N, 28, 28]`` in [0, 1]."""
    top = expect(top, (None, GIVEN, ROWS), "top halves")
    return np.asarray(trained.model.complete(trained.params, mnist.pixels(jnp.asarray(top))))


EXPERIMENT = Experiment(
    name=NAME,
    config=Config,
    make_task=make_task,
    build=Completer,
    predict=predict,
    options=Options,
    preflight=experiments.check_classifier,
)

if __name__ == "__main__":
    EXPERIMENT.main()
