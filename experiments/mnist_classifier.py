"""MNIST read row by row: 28 time steps of 28 pixels, classify the digit from the last output.

    python -m experiments.mnist_classifier                        # LSTM-128, the default
    python -m experiments.mnist_classifier --data-dir DIR         # offline: the 4 MNIST files
    python -m experiments.mnist_classifier --model.cell rnn --model.hidden 150 \\
        --model.input-proj 0 --model.dropout 0 --train.batch-size 150 --train.lr 1e-3 \\
        --train.schedule constant --train.clip-norm 0 --train.shift 0   # the classic basic RNN
    python -m experiments.mnist_classifier --help

The model is chosen on a validation split carved from the training set; the
test set is used once, for the final figures.
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
from rnn_jax.data import mnist
from rnn_jax.models.sequence import SequenceModel, count_params
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "mnist_classifier"


@dataclass(frozen=True)
class ModelConfig:
    cell: task.CellName = "lstm"
    hidden: Annotated[tuple[int, ...], checks.count] = (128,)
    """Hidden units of each recurrent layer; several values make a deep RNN."""
    input_proj: Annotated[int, checks.non_negative] = 128
    """Width of the linear input layer (28 pixels -> N) before the RNN; 0 for none."""
    dropout: Annotated[float, checks.rate] = 0.2
    """Dropout between recurrent layers and before the head, while training."""


@dataclass(frozen=True)
class TrainConfig(task.EpochTrainConfig):
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3
    warmup_steps: int = 300
    shift: Annotated[int, checks.non_negative] = 2
    """Augment training images by random translations of up to N pixels (0: none)."""
    epoch_per_call: bool = False
    """Run each epoch as one compiled function (lax.scan over its minibatches)."""
    val_size: Annotated[int, checks.count] = 5000
    """Training images held out (fixed by the seed) to choose the model."""


@dataclass(frozen=True)
class Config(task.MnistConfig):
    """Train an RNN that reads MNIST images row by row and classifies the digit."""

    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


@dataclass(frozen=True)
class Options(experiment.MnistOptions):
    """How to run the classifier (the shared MNIST options)."""


def build_model(config: Config) -> SequenceModel:
    m = config.model
    return SequenceModel(
        in_dim=28,
        out_dim=10,
        cell=m.cell,
        hidden=tuple(m.hidden),
        input_proj=m.input_proj,
        dropout=m.dropout,
    )


def random_shift(key: jax.Array, images: jax.Array, max_shift: int) -> jax.Array:
    """Translate each image ``[B, 28, 28]`` by its own random offset in ``[-max_shift, max_shift]``
    along both axes, filling with zeros."""
    s = max_shift
    padded = jnp.pad(images, ((0, 0), (s, s), (s, s)))
    offsets = jax.random.randint(key, (images.shape[0], 2), 0, 2 * s + 1)
    crop = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1]), images.shape[1:])  # noqa: E731
    return jax.vmap(crop)(padded, offsets)


@functools.cache
def make_fns(model: SequenceModel, shift: int = 0):
    """The loss, the evaluation sums and the per-row logits of a model; cached, so runs of
    one model (the members of a sweep group) share their compiled functions."""

    def loss_fn(params, batch, key):
        key, shift_key = jax.random.split(key)
        images = mnist.pixels(batch["image"])
        if shift:
            images = random_shift(shift_key, images, shift)
        logits = model.apply_last(params, images, key=key)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
        acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        return loss, {"accuracy": acc}

    def eval_sums(params, batch):
        logits = model.apply_last(params, mnist.pixels(batch["image"]))
        return train.classification_sums(logits, batch["label"], batch["weight"])

    @jax.jit
    def logits_per_row(params, images):
        """``[N, 28, 10]``: the prediction after reading rows 1..k, for every k at once."""
        _, ys = model.features(params, mnist.pixels(images))
        return model.head_apply(params, ys)

    return loss_fn, eval_sums, logits_per_row


@functools.cache
def logits_fn(model: SequenceModel):
    """Jitted ``(params, images [N, 28, 28]) -> logits [N, 10]``."""
    return jax.jit(lambda params, x: model.apply_last(params, mnist.pixels(x)))


def make_task(config: Config, options: Options) -> task.Task:
    """The classifier's training run: data, model, loss, validation, test report."""
    data = config.digits(options.data_dir, config.train.val_size)
    model = build_model(config)
    loss_fn, eval_sums, logits_fn = make_fns(model, config.train.shift)
    schedule = task.by_epochs(config.train, len(data["train"]["label"]), evals=1, logs=4)

    def report(params, run_dir: Path) -> task.Report:
        test = train.Validation(eval_sums, data["test"], 1000)(params)
        # Accuracy after reading only the first k rows, k = 1..28, and the confusion matrix.
        images, labels = data["test"]["image"], data["test"]["label"]
        logits = batching.in_chunks(lambda x: logits_fn(params, x), images, 1000)
        acc_by_rows = (logits.argmax(-1) == labels[:, None]).mean(0)
        confusion = np.zeros((10, 10), np.int64)
        np.add.at(confusion, (labels, logits[:, -1].argmax(-1)), 1)
        figures = run_dir / "figures"
        plotting.plot_confusion(confusion, figures / "confusion.png", "test confusion (best model)")
        plotting.plot_line(
            range(1, 29),
            {"test accuracy": acc_by_rows},
            figures / "accuracy_vs_rows.png",
            xlabel="rows read (k)",
            ylabel="accuracy",
            title="Classifying from the first k rows",
        )
        results = {
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "curve": task.curve(
                "accuracy_vs_rows",
                range(1, 29),
                acc_by_rows,
                "rows read (k)",
                "test accuracy",
                "Classifying from the first k rows",
            ),
            "params": count_params(params),
        }
        summary = f"test accuracy {test['accuracy']:.4f} ({results['params']} params)"
        return task.Report(results, test, f"{summary}; figures in {figures}")

    return task.Task(
        experiment=NAME,
        config=config,
        init=model.init,
        loss_fn=loss_fn,
        train_data=data["train"],
        batch_size=config.train.batch_size,
        schedule=schedule,
        evaluate=train.Validation(eval_sums, data["val"], 1000),
        best="accuracy",
        mode="max",
        report=report,
        curves=("loss", "accuracy"),
        steps_per_call=schedule.eval_every if config.train.epoch_per_call else 1,
    )


def predict(trained: TrainedModel, images: np.ndarray, probs: bool = False) -> np.ndarray:
    """The digit in each image ``[N, 28, 28]`` (uint8, or floats in [0, 1]): labels ``[N]``,
    or with ``probs`` each digit's probability ``[N, 10]``."""
    fn, images = logits_fn(trained.model), expect(images, (None, 28, 28), "images")
    logits = batching.in_chunks(lambda x: fn(trained.params, x), images, 1000)
    return np.asarray(jax.nn.softmax(logits, -1)) if probs else logits.argmax(-1)


EXPERIMENT = Experiment(
    name=NAME,
    config=Config,
    make_task=make_task,
    build=build_model,
    predict=predict,
    options=Options,
)

if __name__ == "__main__":
    EXPERIMENT.main()
