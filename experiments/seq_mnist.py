"""Pixel-by-pixel MNIST: read a digit as 784 steps of one pixel (sMNIST), or in a fixed,
seeded permuted order (psMNIST, ``--permute``), and name it. The classic long-sequence
benchmark of recurrent networks.

    python -m experiments.seq_mnist --data-dir DIR --permute       # psMNIST, LRU blocks
    python -m experiments.seq_mnist --model.cell lstm --model.hidden 128 --model.pool last
    python -m experiments.seq_mnist --help

Any registered cell reads the sequence (``--model.cell``: the linear recurrences ``lru``,
``mingru``, ``minlstm`` run in parallel over time where that is faster); the digit is read
from the mean of the top layer's outputs over time (``--model.pool mean``) or from its last
output (``last``, the classic setting).
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax.data import mnist
from rnn_jax.models.sequence import SequenceModel, count_params
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "seq_mnist"
PIXELS = 784
POOLS = ("mean", "last")
PUBLISHED = {  # test accuracy, %: (sMNIST, psMNIST)
    "LSTM (Le et al. 2015 / Arjovsky et al. 2016)": (98.8, 92.9),
    "GRU (Chang et al. 2017)": (99.1, 94.1),
    "IRNN (Le et al. 2015)": (97.0, 82.0),
    "IndRNN (Li et al. 2018)": (99.0, 96.0),
    "coRNN (Rusch & Mishra 2021)": (99.3, 96.6),
    "S4 (Gu et al. 2022)": (99.63, 98.70),
    "S5 (Smith et al. 2023)": (99.65, None),
}


@dataclass(frozen=True)
class ModelConfig:
    cell: task.CellName = "lru"
    hidden: Annotated[tuple[int, ...], checks.count] = (64, 64, 64, 64)
    """Hidden units of each recurrent layer (a block each, for the linear recurrences)."""
    input_proj: Annotated[int, checks.non_negative] = 64
    """Width of the linear input layer (1 pixel -> N) before the first layer; 0 for none."""
    pool: Annotated[str, checks.one_of(*POOLS)] = "mean"
    """What the digit is read from: the mean of the top layer's outputs over the 784 steps,
    or its last output."""


@dataclass(frozen=True)
class TrainConfig(task.EpochTrainConfig):
    epochs: int = 1
    batch_size: int = 50
    lr: float = 2e-3
    warmup_steps: int = 300
    val_size: Annotated[int, checks.count] = 5000
    """Training images held out (fixed by the seed) to choose the model."""
    val_images: Annotated[int, checks.count] = 2000
    """Of those, how many each validation reads (784 steps each: a cost to keep small)."""
    evals_per_epoch: Annotated[int, checks.count] = 2
    """Validations (and checkpoints) per pass over the training images."""
    steps: Annotated[int, checks.non_negative] = 0
    """Optimizer steps of the run (a budget, e.g. for time to accuracy); 0: --train.epochs
    passes over the training images."""


@dataclass(frozen=True)
class Config(task.MnistConfig):
    """Train a recurrent network that reads MNIST one pixel at a time and names the digit."""

    permute: bool = False
    """psMNIST: the pixels in a fixed random order (drawn by --permutation-seed)."""
    permutation_seed: int = 0
    """Seed of the pixel order with --permute (the same for every --seed)."""
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


def pixel_order(config: Config) -> np.ndarray:
    """The order the 784 pixels are read in: raster order, or a permutation fixed by
    ``permutation_seed``."""
    if not config.permute:
        return np.arange(PIXELS)
    return np.random.default_rng(config.permutation_seed).permutation(PIXELS)


def build_model(config: Config) -> SequenceModel:
    m = config.model
    return SequenceModel(1, 10, cell=m.cell, hidden=tuple(m.hidden), input_proj=m.input_proj)


@functools.cache
def make_fns(model: SequenceModel, pool: str, order: tuple[int, ...]):
    """``logits(params, images [B, 28, 28]) -> [B, 10]``, the loss and the evaluation sums."""
    order = np.asarray(order)

    def logits(params, images):
        xs = mnist.pixels(images).reshape(images.shape[0], PIXELS)[:, order][..., None]
        _, ys = model.features(params, xs)
        return model.head_apply(params, ys.mean(1) if pool == "mean" else ys[:, -1])

    def loss_fn(params, batch, key):
        out = logits(params, batch["image"])
        loss = optax.softmax_cross_entropy_with_integer_labels(out, batch["label"]).mean()
        return loss, {"accuracy": jnp.mean(jnp.argmax(out, -1) == batch["label"])}

    def eval_sums(params, batch):
        return train.classification_sums(
            logits(params, batch["image"]), batch["label"], batch["weight"]
        )

    return jax.jit(logits), loss_fn, eval_sums


def make_task(config: Config, options: experiment.MnistOptions) -> task.Task:
    """Training on pixel sequences; validation on a fixed part of the held-out images."""
    data = config.digits(options.data_dir, config.train.val_size)
    model = build_model(config)
    _, loss_fn, eval_sums = make_fns(model, config.model.pool, tuple(pixel_order(config)))
    val = {k: v[: config.train.val_images] for k, v in data["val"].items()}
    t = config.train
    schedule = task.by_epochs(t, len(data["train"]["label"]), evals=t.evals_per_epoch, logs=10)
    if t.steps:
        schedule = schedule._replace(steps=t.steps)

    def report(params, run_dir: Path) -> task.Report:
        test = train.Validation(eval_sums, data["test"], 500)(params)
        task_name = "psMNIST" if config.permute else "sMNIST"
        column = 1 if config.permute else 0
        published = {k: v[column] for k, v in PUBLISHED.items() if v[column] is not None}
        results = {
            "task": task_name,
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "params": count_params(params),
            "published_test_accuracy": published,
        }
        lines = [f"{task_name} test accuracy {test['accuracy']:.4f} ({results['params']} params)"]
        lines += ["published (%):"] + [f"  {k:<45} {v}" for k, v in published.items()]
        return task.Report(results, test, "\n".join(lines))

    return task.Task(
        experiment=NAME,
        config=config,
        init=model.init,
        loss_fn=loss_fn,
        train_data=data["train"],
        batch_size=config.train.batch_size,
        schedule=schedule,
        evaluate=train.Validation(eval_sums, val, 500),
        best="accuracy",
        mode="max",
        report=report,
        curves=("loss", "accuracy"),
    )


def predict(trained: TrainedModel, images: np.ndarray) -> np.ndarray:
    """The digit in each image ``[N, 28, 28]`` (uint8, or floats in [0, 1]), read pixel by
    pixel in the run's order: labels ``[N]``."""
    images = expect(images, (None, 28, 28), "images")
    config = trained.config
    logits = make_fns(trained.model, config.model.pool, tuple(pixel_order(config)))[0]
    return batching.in_chunks(lambda x: logits(trained.params, x), images, 500).argmax(-1)


EXPERIMENT = Experiment(
    name=NAME,
    config=Config,
    make_task=make_task,
    build=build_model,
    predict=predict,
    options=experiment.MnistOptions,
)

if __name__ == "__main__":
    EXPERIMENT.main()
