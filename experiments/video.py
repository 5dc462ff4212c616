"""Classify clips of moving digits: a CNN on every frame, then an LSTM over the frames.

    python -m experiments.video --data-dir DIR                        # CNN + LSTM
    python -m experiments.video --data-dir DIR --model.kind average   # per-frame heads averaged
    python -m experiments.video --data-dir DIR --model.kind frame     # the first frame alone
    python -m experiments.video --help

Clips of 10-20 frames hold one or two distinct real MNIST digits moving on a
64 x 64 canvas and bouncing off its edges (:mod:`rnn_jax.data.moving`; training
and validation clips from the training split's digits, test clips from the test
split). Two heads: which digits are in the clip (one sigmoid per digit), and
each present digit's direction of motion (eight directions), which no single
frame shows. The same CNN reads every frame; ``lstm`` runs an LSTM over the
frames' features and reads its last valid output, ``average`` averages the
heads' outputs over the frames, ``frame`` sees the first frame only.
"""

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax import batching, cells, cli, experiment, plotting, stack, task, train
from rnn_jax.conv import ConvEncoder
from rnn_jax.data import mnist, moving, scenes
from rnn_jax.errors import ConfigError
from rnn_jax.models import count_params

EXPERIMENT = "video"
KINDS = ("lstm", "average", "frame")


@dataclass(frozen=True)
class DataConfig:
    train_clips: int = 5_000
    """Training clips (from the training split's digits, less the validation digits)."""
    val_clips: int = 500
    """Validation clips, from held-out training digits."""
    test_clips: int = 2_000
    """Test clips, from the test split's digits."""
    val_digits: int = 5_000
    """Training digits held out for the validation clips."""
    frames: tuple[int, int] = (10, 20)
    """Frames per clip (inclusive range)."""


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "lstm"
    """lstm (CNN then LSTM over frames), average (per-frame heads averaged) or frame
    (the first frame alone)."""
    channels: tuple[int, ...] = (16, 32, 64)
    """Channels of the per-frame conv layers (3x3, ReLU, max pool 2x2 each)."""
    downsample: int = 2
    """Average-pool each frame by this factor before the CNN (2: it reads 32 x 32, a
    quarter of the cost; the digits stay legible)."""
    features: int = 128
    """Width of each frame's feature vector (a linear layer on the conv map)."""
    hidden: int = 128
    """LSTM units."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    epochs: int = 4
    """Passes over the training clips."""
    batch_size: int = 32
    """Clips per step."""
    lr: float = 2e-3
    """Peak learning rate of Adam."""


@dataclass(frozen=True)
class Config:
    """Train a CNN + LSTM (or a per-frame baseline) on clips of moving MNIST digits."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    seed: int = 0
    """Seed for the clips, the validation digits, initialisation and shuffling."""
    synthetic: int = 0
    """Use N synthetic digit images instead of MNIST (smoke tests)."""


@dataclass(frozen=True)
class Options(experiment.MnistOptions):
    """How to run the clip classifier (the shared MNIST options)."""


@dataclass(frozen=True)
class ClipModel:
    """Per-frame CNN, then the kind's way over frames, then the two heads."""

    kind: str
    channels: tuple[int, ...]
    features: int
    hidden: int
    downsample: int = 1

    @property
    def encoder(self) -> ConvEncoder:
        return ConvEncoder(self.channels, ((2, 2),) * len(self.channels))

    def init(self, key):
        kc, kf, kr, kd, ko = jax.random.split(key, 5)
        side = 64 // self.downsample
        h, w, c = self.encoder.out_shape(side, side)
        width = self.features + c  # the positional part and the pooled part of a frame
        top = self.hidden if self.kind == "lstm" else width
        params = {
            "conv": self.encoder.init(kc),
            "frame": stack.linear_init(kf, h * w * c, self.features),
            "digits": stack.linear_init(kd, top, 10),
            "directions": stack.linear_init(ko, top, 10 * moving.DIRECTIONS),
        }
        if self.kind == "lstm":
            params["rnn"] = cells.get_cell("lstm").init(kr, width, self.hidden)
        return params

    def frame_features(self, params, frames: jax.Array) -> jax.Array:
        """``uint8 [B, T, 64, 64]`` -> ``[B, T, features + C]``, every frame by the same CNN:
        a linear map of the whole feature map (where things are, for motion) beside its
        maximum over positions (what is there, wherever it is)."""
        b, t = frames.shape[:2]
        k, side = self.downsample, 64 // self.downsample
        x = mnist.pixels(frames).reshape(b * t, side, k, side, k).mean(axis=(2, 4))[..., None]
        fmap = self.encoder.apply(params["conv"], x)
        where = jax.nn.relu(stack.linear_apply(params["frame"], fmap.reshape(b, t, -1)))
        what = jnp.max(fmap, axis=(1, 2)).reshape(b, t, -1)
        return jnp.concatenate([where, what], axis=-1)

    def heads(self, params, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        d = stack.linear_apply(params["directions"], h)
        return stack.linear_apply(params["digits"], h), d.reshape(*d.shape[:-1], 10, -1)

    def apply(self, params, frames: jax.Array, lengths: jax.Array):
        """Digit logits ``[B, 10]`` and direction logits ``[B, 10, 8]`` of each clip."""
        if self.kind == "frame":
            return self.heads(params, self.frame_features(params, frames[:, :1])[:, 0])
        feats = self.frame_features(params, frames)
        if self.kind == "lstm":
            cell = cells.get_cell("lstm")
            _, ys = stack.stack_apply(cell, [params["rnn"]], feats, seq_lengths=lengths)
            return self.heads(params, stack.last_valid(ys, lengths))
        digits, directions = self.heads(params, feats)
        valid = (jnp.arange(frames.shape[1])[None, :] < lengths[:, None]).astype(jnp.float32)
        weights = valid / jnp.sum(valid, axis=1, keepdims=True)
        return (
            jnp.einsum("bt,btk->bk", weights, digits),
            jnp.einsum("bt,btkd->bkd", weights, directions),
        )


def build_model(config: Config) -> ClipModel:
    m = config.model
    if m.kind not in KINDS:
        raise ConfigError(f"unknown --model.kind {m.kind!r}; choose one of {KINDS}")
    if m.downsample not in (1, 2, 4) or not 1 <= len(m.channels) <= 5:
        raise ConfigError(
            f"--model.downsample must be 1, 2 or 4 and --model.channels list 1-5 conv layers' "
            f"channels, got {m.downsample} and {m.channels}"
        )
    return ClipModel(m.kind, tuple(m.channels), m.features, m.hidden, m.downsample)


def make_clips(config: Config, data_dir: str | None) -> dict[str, moving.Clips]:
    """Train, validation and test clips; each split's digits come from its own pool."""
    d = config.data
    if min(d.train_clips, d.val_clips, d.test_clips) < 1:
        raise ConfigError(
            "--data.train-clips, --data.val-clips and --data.test-clips must be positive"
        )
    pools = mnist.splits(
        data_dir, val_size=d.val_digits, seed=config.seed, synthetic_size=config.synthetic
    )
    make = functools.partial(moving.moving_digits, frames=tuple(d.frames))
    counts = {"train": d.train_clips, "val": d.val_clips, "test": d.test_clips}
    return scenes.per_split(make, pools, counts, config.seed)


def as_arrays(c: moving.Clips) -> dict[str, np.ndarray]:
    """Frames, lengths, the digits as a multi-hot vector and a direction per digit class
    (-1 where the digit is absent)."""
    n = len(c.lengths)
    present = np.zeros((n, 10), np.float32)
    direction = np.full((n, 10), -1, np.int32)
    rows, slots = np.nonzero(c.digits >= 0)
    present[rows, c.digits[rows, slots]] = 1.0
    direction[rows, c.digits[rows, slots]] = c.directions[rows, slots]
    return {"frames": c.frames, "length": c.lengths, "present": present, "direction": direction}


@functools.cache
def make_fns(model: ClipModel):
    """The loss, the validation sums and a jitted per-clip scorer ``(digits right,
    directions right, directions counted)``."""

    def scores(params, batch):
        digits, directions = model.apply(params, batch["frames"], batch["length"])
        digits_right = jnp.all((digits > 0) == (batch["present"] > 0.5), axis=1)
        shown = batch["direction"] >= 0
        guess = jnp.argmax(directions, -1)
        dir_right = jnp.sum((guess == batch["direction"]) & shown, axis=1)
        return digits_right, dir_right, jnp.sum(shown, axis=1)

    def loss_fn(params, batch, key):
        digits, directions = model.apply(params, batch["frames"], batch["length"])
        # Summed over the ten digits (a mean would weigh which digits are there a tenth
        # as much as each direction).
        bce = optax.sigmoid_binary_cross_entropy(digits, batch["present"]).sum(-1).mean()
        shown = (batch["direction"] >= 0).astype(jnp.float32)
        xent = optax.softmax_cross_entropy_with_integer_labels(
            directions, jnp.maximum(batch["direction"], 0)
        )
        return bce + jnp.sum(xent * shown) / jnp.sum(shown), {}

    def eval_sums(params, batch):
        digits_right, dir_right, shown = scores(params, batch)
        w = batch["weight"]
        clip_right = (digits_right & (dir_right == shown)).astype(jnp.float32)
        return {
            "clip_accuracy": jnp.sum(w * clip_right),
            "digits_accuracy": jnp.sum(w * digits_right.astype(jnp.float32)),
            "count": jnp.sum(w),
        }

    return loss_fn, eval_sums, jax.jit(scores)


def make_task(config: Config, options: Options) -> task.Task:
    """The clip classifier's run: clips, model, loss, validation, the test report."""
    data = make_clips(config, options.data_dir)
    model = build_model(config)
    loss_fn, eval_sums, scores = make_fns(model)
    arrays = {name: as_arrays(c) for name, c in data.items()}
    per_epoch = config.data.train_clips // max(config.train.batch_size, 1)

    def report(params, run_dir: Path) -> task.Report:
        t = arrays["test"]
        digits_right, dir_right, shown = batching.in_chunks(
            lambda batch: scores(params, batch), t, 250
        )
        clip_right = digits_right & (dir_right == shown)
        count = (data["test"].digits >= 0).sum(1)
        results = {
            "clip_accuracy": float(clip_right.mean()),
            "digits_accuracy": float(digits_right.mean()),
            "direction_accuracy": float(dir_right.sum() / shown.sum()),
            "by_digit_count": {
                int(k): {
                    "clip_accuracy": float(clip_right[count == k].mean()),
                    "digits_accuracy": float(digits_right[count == k].mean()),
                    "direction_accuracy": float(
                        dir_right[count == k].sum() / shown[count == k].sum()
                    ),
                }
                for k in np.unique(count)
            },
            "params": count_params(params),
        }
        figures = run_dir / "figures"
        test = data["test"]
        arrows = "→↗↑↖←↙↓↘"  # the eight directions, counter-clockwise from east
        picks = [(i, f) for i in range(4) for f in range(0, min(test.lengths[:4]), 3)]
        titles = [
            " ".join(
                f"{d} {arrows[r]}" for d, r in zip(test.digits[i], test.directions[i]) if d >= 0
            )
            + f", frame {f}"
            for i, f in picks
        ]
        frames = np.stack([test.frames[i, f] for i, f in picks])
        plotting.plot_images(frames, titles, figures / "test_clips.png", cols=len(picks) // 4)
        summary = (
            f"test ({config.model.kind}): clips right {results['clip_accuracy']:.4f}, digits "
            f"{results['digits_accuracy']:.4f}, directions {results['direction_accuracy']:.4f}; "
            f"figures in {figures}"
        )
        return task.Report(results, {"clip_accuracy": results["clip_accuracy"]}, summary)

    return task.Task(
        experiment=EXPERIMENT,
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
        curves=("loss", "clip_accuracy", "digits_accuracy"),
        log_every=max(per_epoch // 5, 1),
    )


def train_and_evaluate(config: Config, options: Options = Options()) -> dict:
    """Train on the clips, keep the best validation checkpoint, report it on the test clips."""
    return experiment.run(make_task(config, options), options)


def main(args: list[str] | None = None) -> None:
    cli.run(Config, Options, train_and_evaluate, args)


if __name__ == "__main__":
    main()
