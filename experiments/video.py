"""Read motion from clips of moving digits: a CNN on every frame, then an LSTM over frames.

    python -m experiments.video --data-dir DIR                        # CNN + LSTM
    python -m experiments.video --data-dir DIR --model.kind average   # per-frame heads averaged
    python -m experiments.video --data-dir DIR --model.kind frame     # the first frame alone
    python -m experiments.video --help

Clips of 6-9 frames hold one or two distinct real MNIST digits (14 x 14)
moving in straight lines on a 40 x 40 canvas (:mod:`rnn_jax.data.moving`;
training and validation clips from the training split's digits, test clips from
the test split). Three heads: which digits are in the clip (a sigmoid per
digit), each present digit's direction of motion (eight directions), and in a
two-digit clip which digit is visible first (one digit leaves, the other
arrives). The generator is symmetric under time reversal: a clip played
backwards is an equally likely clip with every direction turned by 180 degrees
and the other digit first. So any model that ignores frame order is right on at
most half the directions and half the order questions; only order tells them.
The same CNN reads every frame (:class:`rnn_jax.models.clips.ClipModel`): ``lstm``
then reads the frames in order, ``average`` (order-free) and ``frame`` do not.
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
from rnn_jax.data import mnist, moving, scenes
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import clips
from rnn_jax.models.clips import KINDS, ClipModel
from rnn_jax.models.sequence import count_params
from rnn_jax.training import checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "video"


@dataclass(frozen=True)
class DataConfig:
    train_clips: Annotated[int, checks.count] = 8_000
    """Training clips (from the training split's digits, less the validation digits)."""
    val_clips: Annotated[int, checks.count] = 500
    """Validation clips, from held-out training digits."""
    test_clips: Annotated[int, checks.count] = 2_000
    """Test clips, from the test split's digits."""
    val_digits: Annotated[int, checks.count] = 5_000
    """Training digits held out for the validation clips."""
    frames: Annotated[tuple[int, int], checks.count] = (6, 9)
    """Frames per clip (inclusive range; two-digit clips need at least 3)."""
    size: Annotated[int, checks.count] = 40
    """Side of the square canvas, in pixels."""
    digit: Annotated[int, checks.one_of(*moving.SCALES)] = 14
    """Side of each digit (MNIST's 28 x 28 averaged down: 7, 14 or 28)."""
    speed: Annotated[tuple[float, float], checks.positive] = (2.0, 3.0)
    """Pixels a digit moves per frame (drawn uniformly per digit)."""


@dataclass(frozen=True)
class ModelConfig:
    kind: Annotated[str, checks.one_of(*KINDS)] = "lstm"
    """lstm (CNN then LSTM over frames), average (per-frame heads averaged) or frame
    (the first frame alone)."""
    channels: Annotated[tuple[int, ...], checks.count] = (16, 32, 64)
    """Channels of the per-frame conv layers (3x3, ReLU; a 2x2 max pool after each but the
    last, which keeps its map fine for the positions)."""
    hidden: Annotated[int, checks.count] = 128
    """LSTM units."""


@dataclass(frozen=True)
class TrainConfig(task.EpochTrainConfig):
    epochs: int = 4
    batch_size: int = 32
    lr: float = 5e-3


@dataclass(frozen=True)
class Config(task.MnistConfig):
    """Train a CNN + LSTM (or an order-free baseline) on clips of moving MNIST digits."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


@dataclass(frozen=True)
class Options(experiment.MnistOptions):
    """How to run the clip classifier (the shared MNIST options)."""


def build_model(config: Config) -> ClipModel:
    m = config.model
    if not 1 <= len(m.channels) <= 4 or config.data.size >> len(m.channels) < 1:
        raise ConfigError(
            f"--model.channels lists 1-4 conv layers (each halves the frame), got {m.channels} "
            f"for a {config.data.size} px canvas"
        )
    return ClipModel(m.kind, tuple(m.channels), m.hidden, config.data.size, moving.DIRECTIONS)


def make_clips(config: Config, data_dir: str | None) -> dict[str, moving.Clips]:
    """Train, validation and test clips; each split's digits come from its own pool."""
    d = config.data
    shape = dict(frames=tuple(d.frames), size=d.size, digit=d.digit, speed=tuple(d.speed))
    moving.check(digits=(1, 2), **shape)  # before MNIST is read
    pools = config.digits(data_dir, d.val_digits)
    make = functools.partial(moving.moving_digits, **shape)
    counts = {"train": d.train_clips, "val": d.val_clips, "test": d.test_clips}
    return scenes.per_split(make, pools, counts, config.seed)


@functools.cache
def make_fns(model: ClipModel):
    """The loss, the validation sums and a jitted per-clip scorer ``(digits right,
    directions right, directions counted, first digit right)``."""

    def apply(params, batch):
        return model.apply(params, mnist.pixels(batch["frames"]), batch["length"])

    def scores(params, batch):
        return clips.per_clip(*apply(params, batch)[:3], batch)

    def loss_fn(params, batch, key):
        digits, directions, first, seen = apply(params, batch)
        # Summed over the ten digits (a mean would weigh which digits are there a tenth
        # as much as each direction).
        bce = optax.sigmoid_binary_cross_entropy(digits, batch["present"]).sum(-1).mean()
        labelled = optax.softmax_cross_entropy_with_integer_labels
        shown = (batch["direction"] >= 0).astype(jnp.float32)
        xent = labelled(directions, jnp.maximum(batch["direction"], 0))
        two = (batch["first"] >= 0).astype(jnp.float32)
        order = labelled(first, jnp.maximum(batch["first"], 0))
        steps = seen.shape[1]
        read = (jnp.arange(steps)[None, :] < batch["length"][:, None]).astype(jnp.float32)
        framewise = optax.sigmoid_binary_cross_entropy(seen, batch["seen"][:, :steps]).sum(-1)
        loss = bce + jnp.sum(xent * shown) / jnp.sum(shown)
        loss += jnp.sum(order * two) / jnp.maximum(jnp.sum(two), 1.0)
        return loss + jnp.sum(framewise * read) / jnp.sum(read), {}

    def eval_sums(params, batch):
        digits_right, dir_right, shown, first_right = scores(params, batch)
        w = batch["weight"]
        clip_right = digits_right & (dir_right == shown) & (first_right | (batch["first"] < 0))
        return {
            "clip_accuracy": jnp.sum(w * clip_right.astype(jnp.float32)),
            "digits_accuracy": jnp.sum(w * digits_right.astype(jnp.float32)),
            "direction_accuracy": jnp.sum(w * (dir_right / jnp.maximum(shown, 1)).astype(w.dtype)),
            "count": jnp.sum(w),
        }

    return loss_fn, eval_sums, jax.jit(scores)


def make_task(config: Config, options: Options) -> task.Task:
    """The clip classifier's run: clips, model, loss, validation, the test report."""
    model = build_model(config)
    data = make_clips(config, options.data_dir)
    loss_fn, eval_sums, scores = make_fns(model)
    arrays = {name: moving.targets(c) for name, c in data.items()}

    def report(params, run_dir: Path) -> task.Report:
        test = data["test"]
        s = clips.score(scores, params, arrays["test"])
        back = clips.score(scores, params, moving.targets(moving.reverse(test)))
        count = (test.digits >= 0).sum(1)
        everything = np.ones(len(count), bool)
        results = {
            **clips.summarise(s, everything),
            "order_free_ceiling": {"direction_accuracy": 0.5, "order_accuracy": 0.5},
            "reversed_clips": clips.summarise(back, everything),
            "by_digit_count": {int(k): clips.summarise(s, count == k) for k in np.unique(count)},
            "params": count_params(params),
        }
        figures = run_dir / "figures"
        picks = np.concatenate([np.flatnonzero(count == 2)[:4], np.flatnonzero(count == 1)[:2]])
        seen = read(model, params, test.frames[picks], test.lengths[picks])
        guess, first = seen["directions"], np.argmax(seen["first"], -1)
        captions = [
            f"true: {clips.describe(test, i, test.directions[i], test.first[i])}   predicted: "
            + clips.describe(test, i, [guess[r, d] for d in test.digits[i]], first[r])
            for r, i in enumerate(picks)
        ]
        plotting.plot_clips(
            test.frames[picks], test.lengths[picks], captions, figures / "test_clips.png"
        )
        order = results["order_accuracy"]
        order = "" if order is None else f", first digit {order:.4f}"
        summary = (
            f"test ({config.model.kind}): clips right {results['clip_accuracy']:.4f}, digits "
            f"{results['digits_accuracy']:.4f}, directions {results['direction_accuracy']:.4f}"
            f"{order} (order-free models: at most 0.5 on directions and first digit); figures "
            f"in {figures}"
        )
        return task.Report(results, {"clip_accuracy": results["clip_accuracy"]}, summary)

    return task.Task(
        experiment=NAME,
        config=config,
        init=model.init,
        loss_fn=loss_fn,
        train_data=arrays["train"],
        batch_size=config.train.batch_size,
        schedule=task.by_epochs(config.train, len(data["train"].lengths), evals=2, logs=5),
        evaluate=train.Validation(eval_sums, arrays["val"], 250),
        best="clip_accuracy",
        mode="max",
        report=report,
        curves=("loss", "clip_accuracy", "digits_accuracy", "direction_accuracy"),
    )


def read(model: ClipModel, params, frames: np.ndarray, lengths: np.ndarray) -> dict:
    """What ``model`` reads in clips ``uint8 [N, T, S, S]``: each digit's probability, its
    likeliest direction (into ``clips.ARROWS``) and its probability of coming first."""
    digits, directions, first, _ = model.apply(params, mnist.pixels(frames), jnp.asarray(lengths))
    return {
        "digits": np.asarray(jax.nn.sigmoid(digits)),
        "directions": np.asarray(jnp.argmax(directions, -1)),
        "first": np.asarray(jax.nn.softmax(first, -1)),
    }


def predict(trained: TrainedModel, frames: np.ndarray, lengths: np.ndarray | None = None) -> dict:
    """:func:`read` by a trained model (``lengths``: by default all the frames)."""
    size = trained.config.data.size
    frames = expect(frames, (None, None, size, size), "clips")
    lengths = np.full(len(frames), frames.shape[1]) if lengths is None else lengths
    return read(trained.model, trained.params, frames, lengths)


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
