"""Sequence-to-sequence regression on the classic series ``t sin(t) / 3 + 2 sin(5t)``.

    python -m experiments.timeseries                          # basic RNN, 100 relu units
    python -m experiments.timeseries --model.hidden 100 100 100   # the deep variant
    python -m experiments.timeseries --model.cell lstm
    python -m experiments.timeseries --help

Each example is a random window of 20 steps (sampled every 0.1); the target is
the window shifted one step ahead, and a Dense(1) projection runs at every
step (an output-projection wrapper). Time is split: windows for training come
from t in [0, 24), validation from [24, 27), and the held-out test window and
the generated ("creative") sequence from [27, 30] and beyond.
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import plotting
from rnn_jax.models import sample
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.training import checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "timeseries"
RESOLUTION = 0.1
SPLITS = {"train": (0.0, 24.0), "val": (24.0, 27.0), "test": (27.0, 30.0)}


def series(t: np.ndarray) -> np.ndarray:
    """The classic target function."""
    return t * np.sin(t) / 3 + 2 * np.sin(5 * t)


def random_windows(n: int, steps: int, t_range: tuple[float, float], seed: int):
    """``n`` random windows inside ``t_range``: inputs ``[n, steps, 1]``, targets shifted by one."""
    lo, hi = t_range
    span = (steps + 1) * RESOLUTION
    t0 = np.random.default_rng(seed).uniform(lo, hi - span, size=(n, 1))
    values = series(t0 + np.arange(steps + 1) * RESOLUTION).astype(np.float32)
    return values[:, :-1, None], values[:, 1:, None]


@dataclass(frozen=True)
class ModelConfig:
    cell: task.CellName = "rnn_relu"
    hidden: Annotated[tuple[int, ...], checks.count] = (100,)
    """Hidden units per layer; 100 100 100 is the deep variant."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    steps: Annotated[int, checks.count] = 1500
    """Iterations (MSE printed every 100, like the course's log)."""
    batch_size: Annotated[int, checks.count] = 50
    """Windows per iteration."""
    lr: float = 1e-3
    """Learning rate of Adam."""
    schedule: str = "constant"
    """Learning-rate schedule: constant (the course's), or cosine (warm-up, then decay to 0)."""
    clip_norm: float = 1.0
    """Clip gradients to this global norm (relu RNNs can explode); 0 disables."""
    windows: Annotated[int, checks.count] = 20_000
    """Random training windows drawn once (batches are sampled from them)."""


@dataclass(frozen=True)
class Config(task.Config):
    """Train an RNN to predict the next value of t sin(t)/3 + 2 sin(5t) at every step."""

    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    steps: Annotated[int, checks.count] = 20
    """Time steps per window."""
    generate: Annotated[int, checks.count] = 300
    """Steps of the generated sequence, seeded with 20 real steps."""


def build_model(config: Config) -> SequenceModel:
    return SequenceModel(
        in_dim=1, out_dim=1, cell=config.model.cell, hidden=tuple(config.model.hidden)
    )


@functools.cache
def make_generator(model: SequenceModel, length: int):
    """Jitted creative mode: warm up on ``seed [B, T, 1]``, then feed predictions back in
    (cached: runs of one model share the compiled function)."""

    @jax.jit
    def generate(params, seed):
        carries, y = model.warm_up(params, seed)
        step = lambda c, x: model.step(params, c, x)  # noqa: E731
        return sample.carry_forward(step, carries, y, length)

    return generate


@functools.cache
def make_fns(model: SequenceModel):
    """The loss and the evaluation sums of a model (cached, like :func:`make_generator`)."""

    def loss_fn(params, batch, key):
        return jnp.mean((model.apply_seq(params, batch["x"]) - batch["y"]) ** 2), {}

    def eval_sums(params, batch):
        err = jnp.mean((model.apply_seq(params, batch["x"]) - batch["y"]) ** 2, axis=(1, 2))
        return {"mse": jnp.sum(batch["weight"] * err), "count": jnp.sum(batch["weight"])}

    return loss_fn, eval_sums


@functools.cache
def make_predictor(model: SequenceModel):
    """Jitted ``(params, x [B, T, 1]) -> [B, T, 1]``, shared like :func:`make_fns`."""
    return jax.jit(model.apply_seq)


def make_task(config: Config, options: experiment.RunOptions) -> task.Task:
    """Random training and validation windows; the report draws a held-out window and a
    generated sequence."""
    t = config.train
    x_tr, y_tr = random_windows(t.windows, config.steps, SPLITS["train"], config.seed)
    x_va, y_va = random_windows(1000, config.steps, SPLITS["val"], config.seed + 1)
    model = build_model(config)
    loss_fn, eval_sums = make_fns(model)

    def report(params, run_dir: Path) -> task.Report:
        figures = run_dir / "figures"
        # A held-out test window, and a generated sequence seeded with 20 real test steps.
        t_test = SPLITS["test"][0] + 0.2 + np.arange(config.steps + 1) * RESOLUTION
        window = series(t_test).astype(np.float32)
        pred = np.asarray(make_predictor(model)(params, jnp.asarray(window[None, :-1, None])))[
            0, :, 0
        ]
        test_mse = float(np.mean((pred - window[1:]) ** 2))
        plotting.plot_line(
            t_test[1:],
            {"target": window[1:], "prediction": pred},
            figures / "prediction.png",
            xlabel="t",
            ylabel="value",
            title=f"Held-out window (MSE {test_mse:.4f})",
        )
        t_gen = t_test[0] + np.arange(config.steps + config.generate) * RESOLUTION
        seed = series(t_gen[: config.steps]).astype(np.float32)[None, :, None]
        generate = make_generator(model, config.generate)
        generated = np.asarray(generate(params, jnp.asarray(seed)))[0, :, 0]
        truth = series(t_gen[config.steps :])
        plotting.plot_line(
            t_gen[config.steps :],
            {"true series": truth, "generated": generated},
            figures / "generated.png",
            xlabel="t",
            ylabel="value",
            title=f"Creative mode: {config.generate} steps from 20 real ones",
        )
        results = {
            "test_window_mse": test_mse,
            "generated_mse_first_20": float(np.mean((generated[:20] - truth[:20]) ** 2)),
        }
        summary = f"held-out window MSE {test_mse:.4f}; figures in {figures}"
        return task.Report(results, {"mse": test_mse}, summary)

    return task.Task(
        experiment=NAME,
        config=config,
        init=model.init,
        loss_fn=loss_fn,
        train_data={"x": x_tr, "y": y_tr},
        batch_size=t.batch_size,
        schedule=task.Schedule(t.steps, eval_every=max(t.steps // 5, 1), log_every=100),
        evaluate=train.Validation(eval_sums, {"x": x_va, "y": y_va}, 500),
        best="mse",
        mode="min",
        report=report,
        curves=("loss", "mse"),
        echo="MSE",
    )


def predict(trained: TrainedModel, seed: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` values generated after each sequence ``seed [N, T]`` (creative mode: each
    prediction fed back in): ``[N, steps]``."""
    seed = expect(seed, (None, None), "sequences")
    generate = make_generator(trained.model, steps)
    return np.asarray(generate(trained.params, jnp.asarray(seed, jnp.float32)[..., None]))[..., 0]


EXPERIMENT = Experiment(
    name=NAME, config=Config, make_task=make_task, build=build_model, predict=predict
)

if __name__ == "__main__":
    EXPERIMENT.main()
