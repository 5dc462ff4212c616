"""Do gradients reach back? One cell on a long-dependency problem (the adding problem or
the copy task), with the norm of ``dL/dh_t`` against the distance to the loss measured at
initialisation and after training.

    python -m experiments.gradient_flow --model.cell rnn --length 200
    python -m experiments.gradient_flow --model.cell rnn --model.recurrent-scale 3 \\
        --train.clip-norm 1                   # the exploding case, clipped
    python -m experiments.gradient_flow --problem copy --length 100 --model.cell lstm
    python -m scripts.gradient_flow_study     # every cell, several lengths, one figure

The adding problem (:func:`rnn_jax.data.memory.adding`): sum the two marked values of a
sequence of ``--length`` steps (solved: error below 0.04); always answering 1 scores an MSE
of 1/6. The copy task (:func:`rnn_jax.data.memory.copy`): repeat 10 symbols after a delay
of ``--length`` steps; a model without memory scores ``10 ln 8 / (length + 20)`` nats per
step. Every example is drawn from its own key, so no run sees an example twice.
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax import plotting
from rnn_jax.data import memory
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation.gradient_flow import state_gradient_norms
from rnn_jax.models.sequence import SequenceModel, count_params
from rnn_jax.nn import dense
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "gradient_flow"
PROBLEMS = ("adding", "copy")
DATA_STREAM = 1  # the examples' keys: fold_in(fold_in(PRNGKey(seed), DATA_STREAM), number)


@dataclass(frozen=True)
class ModelConfig:
    cell: task.CellName = "lstm"
    hidden: Annotated[int, checks.count] = 64
    """Units of the one recurrent layer (a linear input layer of that width feeds it)."""
    recurrent_scale: Annotated[float, checks.positive] = 1.0
    """Multiply the initial recurrent weights ``wh`` by this (3 makes a tanh RNN's
    gradients explode); 1 for cells without ``wh``."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    steps: Annotated[int, checks.count] = 1000
    """Optimizer steps (each on fresh examples)."""
    batch_size: Annotated[int, checks.count] = 32
    """Sequences per step."""
    lr: float = 2e-3
    evals: Annotated[int, checks.count] = 5
    """Validations (and checkpoints) over the run."""


@dataclass(frozen=True)
class DataConfig:
    val_examples: Annotated[int, checks.count] = 500
    """Sequences of each validation (they choose the checkpoint)."""
    test_examples: Annotated[int, checks.count] = 2000
    """Sequences of the test report."""
    gradient_examples: Annotated[int, checks.count] = 64
    """Test sequences the gradient norms are averaged over."""


@dataclass(frozen=True)
class Config(task.Config):
    """Train one recurrent layer on a long-dependency problem; measure its gradient flow."""

    problem: Annotated[str, checks.one_of(*PROBLEMS)] = "adding"
    """adding (sum two marked values) or copy (repeat 10 symbols after a delay)."""
    length: Annotated[int, checks.Check(lambda n: n >= 2, "at least 2")] = 200
    """Steps of an adding sequence; the copy task's delay (its sequences are 20 longer)."""
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


def build_model(config: Config) -> SequenceModel:
    features = 2 if config.problem == "adding" else memory.COPY_VOCAB
    outputs = 1 if config.problem == "adding" else memory.COPY_VOCAB
    h = config.model.hidden
    return SequenceModel(features, outputs, cell=config.model.cell, hidden=(h,), input_proj=h)


def draw(problem: str, length: int, seed: int, numbers: jax.Array) -> dict[str, jax.Array]:
    """Examples number ``numbers [B]`` of the run's stream: inputs ``x [B, T, F]`` and
    targets ``y`` (``[B]`` sums, or ``[B, T]`` symbols)."""
    stream = jax.random.fold_in(jax.random.PRNGKey(seed), DATA_STREAM)
    keys = jax.vmap(lambda n: jax.random.fold_in(stream, n))(numbers)
    if problem == "adding":
        x, y = jax.vmap(lambda k: memory.adding(k, length))(keys)
        return {"x": x, "y": y}
    x, y = jax.vmap(lambda k: memory.copy(k, length))(keys)
    return {"x": jax.nn.one_hot(x, memory.COPY_VOCAB), "y": y}


@functools.cache
def make_fns(model: SequenceModel, problem: str, length: int, seed: int):
    """Per-sequence losses and scores from the layer's outputs, the training loss, the
    evaluation sums, and the gradient-norm measurement, for examples given by number."""

    def losses_and_right(params, ys, y):
        """Each sequence's loss and whether it is solved, from the top layer's outputs."""
        if problem == "adding":
            pred = model.head_apply(params, ys[:, -1])[:, 0]
            return jnp.square(pred - y), jnp.abs(pred - y) < memory.ADDING_TOLERANCE
        logits = model.head_apply(params, ys)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(-1)
        recalled = jnp.argmax(logits[:, -memory.COPY_SPAN :], -1) == y[:, -memory.COPY_SPAN :]
        return ce, jnp.mean(recalled.astype(jnp.float32), -1)

    def scored(params, numbers):
        batch = draw(problem, length, seed, numbers)
        _, ys = model.features(params, batch["x"])
        loss, right = losses_and_right(params, ys, batch["y"])
        return loss, right.astype(jnp.float32)

    def loss_fn(params, batch, key):
        loss, right = scored(params, batch["example"])
        return loss.mean(), {"accuracy": right.mean()}

    def eval_sums(params, batch):
        loss, right = scored(params, batch["example"])
        w = batch["weight"]
        return {"loss": jnp.sum(w * loss), "accuracy": jnp.sum(w * right), "count": jnp.sum(w)}

    def gradient_norms(params, numbers):
        batch = draw(problem, length, seed, numbers)
        us = dense.linear_apply(params["proj"], batch["x"])
        layer = params["rnn"][0]
        losses = lambda ys: losses_and_right(params, ys, batch["y"])[0]  # noqa: E731
        return state_gradient_norms(model.rnn_cell, layer, us, losses)

    return loss_fn, eval_sums, jax.jit(scored), jax.jit(gradient_norms)


def scaled_init(model: SequenceModel, scale: float):
    """``model.init`` with the recurrent weights ``wh`` multiplied by ``scale``.

    Raises:
      ConfigError: a scale other than 1 for a cell without ``wh``.
    """
    like = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    if scale != 1.0 and "wh" not in like["rnn"][0]:
        raise ConfigError(
            f"--model.recurrent-scale {scale}: the {model.cell} cell has no recurrent weights "
            "wh to scale; use 1 (or a cell such as rnn, gru, lstm)"
        )

    def init(key):
        params = model.init(key)
        if scale != 1.0:
            params["rnn"][0]["wh"] = params["rnn"][0]["wh"] * jnp.asarray(scale, jnp.float32)
        return params

    return init


def make_task(config: Config, options: experiment.RunOptions) -> task.Task:
    """The run: fresh examples every step, validation and test on their own example
    numbers, and the gradient norms at initialisation and for the best parameters."""
    model = build_model(config)
    init = scaled_init(model, config.model.recurrent_scale)
    loss_fn, eval_sums, scored, gradient_norms = make_fns(
        model, config.problem, config.length, config.seed
    )
    t, d = config.train, config.data
    train_count = t.steps * t.batch_size
    val = np.arange(train_count, train_count + d.val_examples)
    test = np.arange(val[-1] + 1, val[-1] + 1 + d.test_examples)
    schedule = task.Schedule(t.steps, max(t.steps // t.evals, 1), max(t.steps // 20, 1))
    baseline = (
        memory.ADDING_CONSTANT_MSE
        if config.problem == "adding"
        else memory.copy_memoryless_loss(config.length)
    )

    def report(params, run_dir: Path) -> task.Report:
        loss, right = batching.in_chunks(lambda n: scored(params, n), test, 500)
        grad_numbers = jnp.asarray(test[: d.gradient_examples])
        at_init = gradient_norms(init(jax.random.PRNGKey(config.seed)), grad_numbers)
        trained = gradient_norms(params, grad_numbers)
        distance = np.arange(1, len(at_init) + 1)
        figures = run_dir / "figures"
        plotting.plot_series(
            {"initialisation": (distance, at_init), "trained": (distance, trained)},
            figures / "gradient_flow.png",
            xlabel="distance to the loss T - t (steps)",
            ylabel="mean ||dL/dh_t||",
            title=f"{config.model.cell}, {config.problem} problem, length {config.length}",
            logy=True,
        )
        what = "solved" if config.problem == "adding" else "symbols recalled"
        results = {
            "problem": config.problem,
            "length": config.length,
            "test_loss": float(loss.mean()),
            "test_accuracy": float(right.mean()),
            "baseline_loss": baseline,
            "params": count_params(params),
            "gradient_norm": {
                "distance": distance.tolist(),
                "init": np.asarray(at_init).tolist(),
                "trained": np.asarray(trained).tolist(),
            },
            "curve": task.curve(
                "gradient_norm_trained",
                distance,
                trained,
                "distance to the loss (steps)",
                "mean ||dL/dh_t||",
                f"Gradient flow, {config.problem} problem",
                logy=True,
            ),
        }
        ends = ", ".join(
            f"d={k}: {float(at_init[k - 1]):.2e} -> {float(trained[k - 1]):.2e}"
            for k in sorted({1, min(10, len(distance)), len(distance)})
        )
        summary = (
            f"{config.problem} problem, length {config.length}, {config.model.cell}: test "
            f"loss {results['test_loss']:.4f} (memoryless {baseline:.4f}), {what} "
            f"{results['test_accuracy']:.4f}\n||dL/dh|| at init -> trained: {ends}\n"
            f"figure in {figures / 'gradient_flow.png'}"
        )
        return task.Report(
            results, {"loss": results["test_loss"], "accuracy": results["test_accuracy"]}, summary
        )

    return task.Task(
        experiment=NAME,
        config=config,
        init=init,
        loss_fn=loss_fn,
        train_data={"example": np.arange(train_count)},
        batch_size=t.batch_size,
        schedule=schedule,
        evaluate=train.Validation(eval_sums, {"example": val}, 500),
        best="loss",
        mode="min",
        report=report,
        curves=("loss", "accuracy", "grad_norm"),
    )


def predict(trained: TrainedModel, x: np.ndarray) -> np.ndarray:
    """The model's answer to problems ``x``: adding sequences ``[N, T, 2]`` -> sums ``[N]``;
    copy sequences of symbols ``[N, T]`` -> the symbols it writes at every step ``[N, T]``."""
    model, params = trained.model, trained.params
    if trained.config.problem == "adding":
        x = jnp.asarray(expect(x, (None, None, 2), "adding sequences"), jnp.float32)
        return np.asarray(model.apply_last(params, x)[:, 0])
    x = expect(x, (None, None), "copy sequences")
    if x.min() < 0 or x.max() >= memory.COPY_VOCAB:
        raise ValueError(
            f"copy symbols lie in 0 .. {memory.COPY_VOCAB - 1}, got {x.min()} .. {x.max()}"
        )
    logits = model.apply_seq(params, jax.nn.one_hot(jnp.asarray(x), memory.COPY_VOCAB))
    return np.asarray(jnp.argmax(logits, -1))


EXPERIMENT = Experiment(
    name=NAME, config=Config, make_task=make_task, build=build_model, predict=predict
)

if __name__ == "__main__":
    EXPERIMENT.main()
