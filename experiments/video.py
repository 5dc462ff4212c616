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
The same CNN reads every frame; ``lstm`` runs an LSTM over the frames' features
(and their change from frame to frame) and reads its last valid output,
``average`` averages the heads' outputs over the frames (order-free: the
ceilings apply), ``frame`` sees the first frame only.
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
from rnn_jax.models.sequence import count_params
from rnn_jax.nn import dense
from rnn_jax.nn.conv import ConvEncoder
from rnn_jax.recurrent import cells, stack
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment

NAME = "video"
KINDS = ("lstm", "average", "frame")
ARROWS = "→↗↑↖←↙↓↘"  # the eight directions, counter-clockwise from east


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
    kind: str = "lstm"
    """lstm (CNN then LSTM over frames), average (per-frame heads averaged) or frame
    (the first frame alone)."""
    channels: Annotated[tuple[int, ...], checks.count] = (16, 32, 64)
    """Channels of the per-frame conv layers (3x3, ReLU; a 2x2 max pool after each but the
    last, which keeps its map fine for the positions)."""
    hidden: Annotated[int, checks.count] = 128
    """LSTM units."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    epochs: Annotated[int, checks.count] = 4
    """Passes over the training clips."""
    batch_size: Annotated[int, checks.count] = 32
    """Clips per step."""
    lr: float = 5e-3
    """Peak learning rate of Adam."""


@dataclass(frozen=True)
class Config:
    """Train a CNN + LSTM (or an order-free baseline) on clips of moving MNIST digits."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    seed: int = 0
    """Seed for the clips, the validation digits, initialisation and shuffling."""
    synthetic: Annotated[int, checks.non_negative] = 0
    """Use N synthetic digit images instead of MNIST (smoke tests)."""


@dataclass(frozen=True)
class Options(experiment.MnistOptions):
    """How to run the clip classifier (the shared MNIST options)."""


@dataclass(frozen=True)
class ClipModel:
    """Per-frame CNN, then the kind's way over frames, then the three heads."""

    kind: str
    channels: tuple[int, ...]
    hidden: int
    size: int = 40

    @property
    def encoder(self) -> ConvEncoder:
        pools = ((2, 2),) * (len(self.channels) - 1) + ((1, 1),)  # keep the last map fine
        return ConvEncoder(self.channels, pools)

    def init(self, key):
        kc, kr, kd, ko, kv, ks = jax.random.split(key, 6)
        width = 3 * self.channels[-1]  # each channel's (x, y) and its peak
        top = self.hidden if self.kind == "lstm" else width
        params = {
            "conv": self.encoder.init(kc),
            "digits": dense.linear_init(kd, top, 10),
            "directions": dense.linear_init(ko, top, 10 * moving.DIRECTIONS),
            "first": dense.linear_init(kv, top, 10),
            "seen": dense.linear_init(ks, self.channels[-1], 10),
        }
        if self.kind == "lstm":
            params["rnn"] = cells.get_cell("lstm").init(kr, 2 * width, self.hidden)
        return params

    def frame_features(self, params, frames: jax.Array) -> jax.Array:
        """``uint8 [B, T, S, S]`` -> ``[B, T, 3C]``, every frame by the same CNN: where each
        channel of its map fires, as the centre of its activation's mass (finer than the
        map's cells; in units of 5 px from the canvas's centre, so that a move of 2-3 px a
        frame is a step a model can see), beside the channel's peak (what is there,
        wherever it is)."""
        b, t = frames.shape[:2]
        x = mnist.pixels(frames).reshape(b * t, self.size, self.size, 1)
        fmap = self.encoder.apply(params["conv"], x)  # [BT, h, w, C]
        h, w, c = fmap.shape[1:]
        mass = fmap.reshape(b * t, h * w, c)
        mass = mass - jnp.min(mass, axis=1, keepdims=True)  # a bias lights no background
        attend = mass / (jnp.sum(mass, axis=1, keepdims=True) + 1e-3)
        half = self.size / 2 / 5.0
        grid = jnp.linspace(-half, half, h), jnp.linspace(-half, half, w)
        ys, xs = jnp.meshgrid(*grid, indexing="ij")
        where = jnp.einsum("npc,pk->nck", attend, jnp.stack([xs.ravel(), ys.ravel()], axis=1))
        what = jnp.max(fmap, axis=(1, 2))
        return jnp.concatenate([where.reshape(b * t, 2 * c), what], axis=-1).reshape(b, t, -1)

    def heads(self, params, h: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        d = dense.linear_apply(params["directions"], h)
        return (
            dense.linear_apply(params["digits"], h),
            d.reshape(*d.shape[:-1], 10, moving.DIRECTIONS),
            dense.linear_apply(params["first"], h),
        )

    def apply(self, params, frames: jax.Array, lengths: jax.Array):
        """Digit logits ``[B, 10]``, direction logits ``[B, 10, 8]`` and which-digit-first
        logits ``[B, 10]`` of each clip, and the logits of the digits visible in each frame
        read ``[B, T', 10]`` (an auxiliary target that teaches the CNN digits, frame by
        frame, and says nothing about order)."""
        feats = self.frame_features(params, frames[:, :1] if self.kind == "frame" else frames)
        seen = dense.linear_apply(params["seen"], feats[..., -self.channels[-1] :])
        if self.kind == "frame":
            return (*self.heads(params, feats[:, 0]), seen)
        if self.kind == "lstm":  # each frame's features and their change since the last
            change = jnp.diff(feats, axis=1, prepend=feats[:, :1])
            cell, steps = cells.get_cell("lstm"), jnp.concatenate([feats, change], axis=-1)
            _, ys = stack.stack_apply(cell, [params["rnn"]], steps, seq_lengths=lengths)
            return (*self.heads(params, stack.last_valid(ys, lengths)), seen)
        valid = (jnp.arange(frames.shape[1])[None, :] < lengths[:, None]).astype(jnp.float32)
        weights = valid / jnp.sum(valid, axis=1, keepdims=True)
        heads = self.heads(params, feats)
        return (*(jnp.einsum("bt,bt...->b...", weights, y) for y in heads), seen)


def build_model(config: Config) -> ClipModel:
    m = config.model
    if m.kind not in KINDS:
        raise ConfigError(f"unknown --model.kind {m.kind!r}; choose one of {KINDS}")
    if not 1 <= len(m.channels) <= 4 or config.data.size >> len(m.channels) < 1:
        raise ConfigError(
            f"--model.channels lists 1-4 conv layers (each halves the frame), got {m.channels} "
            f"for a {config.data.size} px canvas"
        )
    return ClipModel(m.kind, tuple(m.channels), m.hidden, config.data.size)


def make_clips(config: Config, data_dir: str | None) -> dict[str, moving.Clips]:
    """Train, validation and test clips; each split's digits come from its own pool."""
    d = config.data
    shape = dict(frames=tuple(d.frames), size=d.size, digit=d.digit, speed=tuple(d.speed))
    moving.check(digits=(1, 2), **shape)  # before MNIST is read
    pools = mnist.splits(
        data_dir, val_size=d.val_digits, seed=config.seed, synthetic_size=config.synthetic
    )
    make = functools.partial(moving.moving_digits, **shape)
    counts = {"train": d.train_clips, "val": d.val_clips, "test": d.test_clips}
    return scenes.per_split(make, pools, counts, config.seed)


def as_arrays(c: moving.Clips) -> dict[str, np.ndarray]:
    """Frames, lengths, the digits as a multi-hot vector, a direction per digit class
    (-1 where the digit is absent), the digit visible first (-1: one digit) and the digits
    each frame shows."""
    n = len(c.lengths)
    present = np.zeros((n, 10), np.float32)
    direction = np.full((n, 10), -1, np.int32)
    rows, slots = np.nonzero(c.digits >= 0)
    present[rows, c.digits[rows, slots]] = 1.0
    direction[rows, c.digits[rows, slots]] = c.directions[rows, slots]
    seen = np.zeros((n, c.frames.shape[1], 10), np.float32)  # the digits each frame shows
    frame = np.arange(c.frames.shape[1])
    for row, slot in zip(rows, slots):
        first, last = c.windows[row, slot]
        seen[row, (frame >= first) & (frame <= last), c.digits[row, slot]] = 1.0
    return {
        "frames": c.frames,
        "length": c.lengths,
        "present": present,
        "direction": direction,
        "first": c.first,
        "seen": seen,
    }


@functools.cache
def make_fns(model: ClipModel):
    """The loss, the validation sums and a jitted per-clip scorer ``(digits right,
    directions right, directions counted, first digit right)``."""

    def scores(params, batch):
        digits, directions, first, _ = model.apply(params, batch["frames"], batch["length"])
        digits_right = jnp.all((digits > 0) == (batch["present"] > 0.5), axis=1)
        shown = batch["direction"] >= 0
        dir_right = jnp.sum((jnp.argmax(directions, -1) == batch["direction"]) & shown, axis=1)
        first_right = jnp.argmax(first, -1) == batch["first"]
        return digits_right, dir_right, jnp.sum(shown, axis=1), first_right

    def loss_fn(params, batch, key):
        digits, directions, first, seen = model.apply(params, batch["frames"], batch["length"])
        # Summed over the ten digits (a mean would weigh which digits are there a tenth
        # as much as each direction).
        bce = optax.sigmoid_binary_cross_entropy(digits, batch["present"]).sum(-1).mean()
        shown = (batch["direction"] >= 0).astype(jnp.float32)
        xent = optax.softmax_cross_entropy_with_integer_labels(
            directions, jnp.maximum(batch["direction"], 0)
        )
        two = (batch["first"] >= 0).astype(jnp.float32)
        order = optax.softmax_cross_entropy_with_integer_labels(
            first, jnp.maximum(batch["first"], 0)
        )
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


def score_clips(scores, params, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per test clip: digits right, directions right and counted, first digit right, whether
    it has two digits, and whether every head is right."""
    digits, dirs, shown, first = batching.in_chunks(
        lambda batch: scores(params, batch), arrays, 250
    )
    two = arrays["first"] >= 0
    clip = digits & (dirs == shown) & (first | ~two)
    return {"digits": digits, "dirs": dirs, "shown": shown, "first": first, "two": two,
            "clip": clip}  # fmt: skip


def summarise(s: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, float]:
    """Accuracies over the clips in ``rows`` (a boolean mask); the order head's over the
    two-digit clips among them."""
    two = s["two"] & rows
    return {
        "clip_accuracy": float(s["clip"][rows].mean()),
        "digits_accuracy": float(s["digits"][rows].mean()),
        "direction_accuracy": float(s["dirs"][rows].sum() / s["shown"][rows].sum()),
        "order_accuracy": float(s["first"][two].mean()) if two.any() else None,
    }


def describe(clips: moving.Clips, i: int, directions, first: int) -> str:
    """A clip's digits with their directions and which came first, as ``3→ 7↖, 3 first``."""
    text = " ".join(f"{d}{ARROWS[r]}" for d, r in zip(clips.digits[i], directions) if d >= 0)
    return text + (f", {first} first" if clips.first[i] >= 0 else "")


def make_task(config: Config, options: Options) -> task.Task:
    """The clip classifier's run: clips, model, loss, validation, the test report."""
    model = build_model(config)
    data = make_clips(config, options.data_dir)
    loss_fn, eval_sums, scores = make_fns(model)
    arrays = {name: as_arrays(c) for name, c in data.items()}
    per_epoch = config.data.train_clips // max(config.train.batch_size, 1)

    def report(params, run_dir: Path) -> task.Report:
        test = data["test"]
        s = score_clips(scores, params, arrays["test"])
        back = score_clips(scores, params, as_arrays(moving.reverse(test)))
        count = (test.digits >= 0).sum(1)
        everything = np.ones(len(count), bool)
        results = {
            **summarise(s, everything),
            "order_free_ceiling": {"direction_accuracy": 0.5, "order_accuracy": 0.5},
            "reversed_clips": summarise(back, everything),
            "by_digit_count": {int(k): summarise(s, count == k) for k in np.unique(count)},
            "params": count_params(params),
        }
        figures = run_dir / "figures"
        picks = np.concatenate([np.flatnonzero(count == 2)[:4], np.flatnonzero(count == 1)[:2]])
        batch = {k: v[picks] for k, v in arrays["test"].items()}
        _, directions, first, _ = model.apply(params, batch["frames"], batch["length"])
        guess, first = np.argmax(directions, -1), np.argmax(first, -1)
        captions = [
            f"true: {describe(test, i, test.directions[i], test.first[i])}   predicted: "
            + describe(test, i, [guess[r, d] for d in test.digits[i]], first[r])
            for r, i in enumerate(picks)
        ]
        plotting.plot_clips(
            test.frames[picks], test.lengths[picks], captions, figures / "test_clips.png"
        )
        order = results["order_accuracy"]
        summary = (
            f"test ({config.model.kind}): clips right {results['clip_accuracy']:.4f}, digits "
            f"{results['digits_accuracy']:.4f}, directions {results['direction_accuracy']:.4f}"
            + (f", first digit {order:.4f}" if order is not None else "")
            + f" (order-free models: at most 0.5 on directions and first digit); figures in "
            f"{figures}"
        )
        return task.Report(results, {"clip_accuracy": results["clip_accuracy"]}, summary)

    return task.Task(
        experiment=NAME,
        config=config,
        init=model.init,
        loss_fn=loss_fn,
        train_data=arrays["train"],
        batch_size=config.train.batch_size,
        steps=per_epoch * config.train.epochs,
        evaluate=train.Validation(eval_sums, arrays["val"], 250),
        eval_every=max(per_epoch // 2, 1),
        best="clip_accuracy",
        mode="max",
        report=report,
        curves=("loss", "clip_accuracy", "digits_accuracy", "direction_accuracy"),
        log_every=max(per_epoch // 5, 1),
    )


EXPERIMENT = Experiment(name=NAME, config=Config, make_task=make_task, options=Options)

if __name__ == "__main__":
    EXPERIMENT.main()
