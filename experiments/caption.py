"""Describe scenes of handwritten digits in words: a CNN encoder and an LSTM decoder that
attends over the feature map (Show, Attend and Tell, Xu et al. 2015).

    python -m experiments.caption --data-dir DIR                   # with attention (default)
    python -m experiments.caption --data-dir DIR --model.attention none   # plain encoder-decoder
    python -m experiments.caption --generate --from runs/caption/default  # report a trained run
    python -m experiments.caption --help

Scenes hold 2-4 real MNIST digits in the cells of a 2 x 2 grid on a 64 x 64
canvas (:func:`rnn_jax.data.scenes.captioned_scenes`), captioned in words whose
grammar follows the layout ("a seven left of a two", "three digits : one , four
and nine", ...): training and validation scenes from the training split's
digits, test scenes from the test split, fixed by the seed. The decoder is
trained with teacher forcing and generates by greedy or beam search
(:mod:`rnn_jax.models.decode`). Without attention (``--model.attention none``) the
decoder sees one vector, a linear map of the whole feature map (Show and
Tell's form), at every step.
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
from rnn_jax.data import mnist, scenes
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import text_metrics as tm
from rnn_jax.models import decode
from rnn_jax.models.seq2seq import AttentionDecoder
from rnn_jax.nn import dense
from rnn_jax.nn.conv import ConvEncoder
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment

NAME = "caption"
WORDS = (
    *scenes.NAMES,
    *"a an left right of above and three digits top bottom row : ,".split(),
)
VOCAB = ("<pad>", "<start>", "<end>", *WORDS)
PAD, START, END = 0, 1, 2
MAX_LEN = 16  # the longest caption (13 words) and its end token fit
ATTENTIONS = ("additive", "dot", "none")


@dataclass(frozen=True)
class DataConfig:
    train_scenes: Annotated[int, checks.count] = 40_000
    """Training scenes (from the training split's digits, less the validation digits)."""
    val_scenes: Annotated[int, checks.count] = 1_000
    """Validation scenes, from held-out training digits."""
    test_scenes: Annotated[int, checks.count] = 5_000
    """Test scenes, from the test split's digits."""
    val_digits: Annotated[int, checks.count] = 5_000
    """Training digits held out for the validation scenes."""


@dataclass(frozen=True)
class ModelConfig:
    attention: str = "additive"
    """Attention over the feature map's cells: additive, dot, or none (one vector)."""
    channels: Annotated[tuple[int, ...], checks.count] = (16, 32, 64, 128)
    """Channels of the conv layers (3x3, ReLU, max pool 2x2 each): four layers give a
    4 x 4 map, 2 x 2 cells per grid cell."""
    hidden: Annotated[int, checks.count] = 192
    """LSTM units of the decoder."""
    embed: Annotated[int, checks.count] = 64
    """Word embedding size."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    epochs: Annotated[int, checks.count] = 4
    """Passes over the training scenes."""
    batch_size: Annotated[int, checks.count] = 64
    """Scenes per step."""
    lr: float = 2e-3
    """Peak learning rate of Adam."""
    warmup_steps: Annotated[int, checks.non_negative] = 200
    """Warm-up steps of the cosine schedule."""


@dataclass(frozen=True)
class Config:
    """Train a CNN + LSTM captioner of MNIST digit scenes."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    seed: int = 0
    """Seed for the scenes, the validation digits, initialisation and shuffling."""
    synthetic: Annotated[int, checks.non_negative] = 0
    """Use N synthetic digit images instead of MNIST (smoke tests)."""


@dataclass(frozen=True)
class Options(experiment.ReportOptions):
    beams: Annotated[tuple[int, ...], checks.count] = (1, 3, 5)
    """Beam widths the test scenes are also captioned with (besides greedy decoding)."""


def encode(caption: str) -> np.ndarray:
    """Word ids of a caption, then ``<end>``, padded to :data:`MAX_LEN`."""
    ids = [VOCAB.index(w) for w in caption.split()] + [END]
    return np.array(ids + [PAD] * (MAX_LEN - len(ids)), np.int32)


def words(tokens) -> str:
    """The caption of generated ids, up to the first ``<end>``."""
    return decode.to_text(tokens, VOCAB, (END, PAD))


@dataclass(frozen=True)
class Captioner:
    """Conv encoder (64 x 64 -> 64 / 2^layers square map of C channels) and the attention
    decoder."""

    channels: tuple[int, ...]
    attention: str
    hidden: int
    embed: int

    @property
    def encoder(self) -> ConvEncoder:
        return ConvEncoder(tuple(self.channels), ((2, 2),) * len(self.channels))

    @property
    def decoder(self) -> AttentionDecoder:
        att = None if self.attention == "none" else self.attention
        dim = self.channels[-1] if att else self.hidden
        return AttentionDecoder(len(VOCAB), dim, self.embed, self.hidden, att)

    def init(self, key):
        kc, ks, kd = jax.random.split(key, 3)
        params = {"conv": self.encoder.init(kc), "decoder": self.decoder.init(kd)}
        h, w, c = self.encoder.out_shape(64, 64)
        if self.attention == "none":
            params["summary"] = dense.linear_init(ks, h * w * c, self.hidden)
        else:
            params["position"] = 0.1 * jax.random.normal(ks, (h * w, c))
        return params

    def memory(self, params, images: jax.Array) -> jax.Array:
        """What the decoder reads: the map's cells ``[B, cells, C]``, each plus a learned
        embedding of where it is (a convolution alone cannot tell the cells apart, and
        the caption's words depend on the layout), or without attention one vector of
        the whole map ``[B, 1, hidden]``."""
        fmap = self.encoder.apply(params["conv"], mnist.pixels(images)[..., None])
        b = fmap.shape[0]
        if self.attention == "none":
            return jnp.tanh(dense.linear_apply(params["summary"], fmap.reshape(b, 1, -1)))
        return fmap.reshape(b, -1, fmap.shape[-1]) + params["position"][None]

    def teacher_forced(self, params, images, targets):
        inputs = jnp.concatenate([jnp.full_like(targets[:, :1], START), targets[:, :-1]], axis=1)
        return self.decoder.teacher_forced(params["decoder"], self.memory(params, images), inputs)

    def generate(self, params, images, width: int = 0) -> jax.Array:
        """Greedy (``width=0``) or beam-search captions ``[B, MAX_LEN]`` of ``images``."""
        dec = self.decoder
        state = dec.start(params["decoder"], self.memory(params, images))
        start = jnp.full((images.shape[0],), START, jnp.int32)
        step = dec.bound(params["decoder"])
        if not width:
            return decode.greedy(step, state, start, MAX_LEN, END)[0]
        return decode.beam_search(step, state, start, MAX_LEN, END, width)[0]


def build_captioner(config: Config) -> Captioner:
    m = config.model
    if m.attention not in ATTENTIONS:
        raise ConfigError(f"unknown --model.attention {m.attention!r}; choose one of {ATTENTIONS}")
    if not 1 <= len(m.channels) <= 5:
        raise ConfigError(
            f"--model.channels needs 1-5 conv layers' channels (a 64 x 64 scene pooled 2x2 "
            f"by each), got {m.channels}"
        )
    return Captioner(tuple(m.channels), m.attention, m.hidden, m.embed)


def make_scenes(config: Config, data_dir: str | None) -> dict[str, scenes.Scenes]:
    """Train, validation and test scenes; each split's digits come from its own pool."""
    d = config.data
    if min(d.train_scenes, d.val_scenes, d.test_scenes) < 1:
        raise ConfigError(
            "--data.train-scenes, --data.val-scenes and --data.test-scenes must be positive"
        )
    splits = mnist.splits(
        data_dir, val_size=d.val_digits, seed=config.seed, synthetic_size=config.synthetic
    )
    counts = {"train": d.train_scenes, "val": d.val_scenes, "test": d.test_scenes}
    return scenes.per_split(scenes.captioned_scenes, splits, counts, config.seed)


def as_arrays(s: scenes.Scenes) -> dict[str, np.ndarray]:
    return {"image": s.images, "target": np.stack([encode(c) for c in s.captions])}


@functools.cache
def make_fns(captioner: Captioner):
    """The teacher-forced loss, the validation sums (greedy captions inside jit) and a jitted
    ``generate(params, images, width)``."""

    def loss_fn(params, batch, key):
        logits, _ = captioner.teacher_forced(params, batch["image"], batch["target"])
        mask = (batch["target"] != PAD).astype(jnp.float32)
        xent = optax.softmax_cross_entropy_with_integer_labels(logits, batch["target"])
        return jnp.sum(xent * mask) / jnp.sum(mask), {}

    def eval_sums(params, batch):
        tokens = captioner.generate(params, batch["image"])
        want = jnp.where(batch["target"] == PAD, END, batch["target"])
        same = jnp.all(tokens == want, axis=1).astype(jnp.float32)
        w = batch["weight"]
        return {"exact_match": jnp.sum(w * same), "count": jnp.sum(w)}

    generate = jax.jit(captioner.generate, static_argnames="width")
    return loss_fn, eval_sums, generate


def captions(captioner: Captioner, params, images: np.ndarray, width: int = 0) -> list[str]:
    _, _, generate = make_fns(captioner)
    tokens = batching.in_chunks(lambda x: generate(params, x, width=width), images, 500)
    return [words(t) for t in tokens]


def score(hyps: list[str], test: scenes.Scenes) -> dict:
    """BLEU-4 and exact match, overall and by the number of digits in the scene."""
    digits = (test.labels >= 0).sum(1)
    out = {"bleu4": tm.bleu4(hyps, test.captions), "exact_match": _exact(hyps, test.captions)}
    out["exact_match_by_digits"] = {
        int(n): _exact(
            [h for h, k in zip(hyps, digits) if k == n],
            [r for r, k in zip(test.captions, digits) if k == n],
        )
        for n in np.unique(digits)
    }
    return out


def _exact(hyps: list[str], refs: list[str]) -> float:
    return tm.exact_match([h.split() for h in hyps], [r.split() for r in refs])


def make_task(config: Config, options: Options) -> task.Task:
    """The captioner's training run: scenes, model, loss, validation, test report."""
    data = make_scenes(config, options.data_dir)
    captioner = build_captioner(config)
    loss_fn, eval_sums, _ = make_fns(captioner)
    per_epoch = config.data.train_scenes // max(config.train.batch_size, 1)

    def report(params, run_dir: Path) -> task.Report:
        test = data["test"]
        results = {"greedy": score(captions(captioner, params, test.images), test)}
        for width in options.beams:
            results[f"beam{width}"] = score(captions(captioner, params, test.images, width), test)
        figures = run_dir / "figures"
        titles = [
            h if h == ref else f"{h}\n(true: {ref})"
            for h, ref in zip(captions(captioner, params, test.images[:6]), test.captions)
        ]
        plotting.plot_images(test.images[:6], titles, figures / "test_captions.png", cols=3)
        if captioner.attention != "none":
            plot_attention(captioner, params, test.images[:3], figures / "attention.png")
        return task.Report(
            results, {"exact_match": results["greedy"]["exact_match"]}, summary(results, figures)
        )

    return task.Task(
        experiment=NAME,
        config=config,
        init=captioner.init,
        loss_fn=loss_fn,
        train_data=as_arrays(data["train"]),
        batch_size=config.train.batch_size,
        steps=per_epoch * config.train.epochs,
        evaluate=train.Validation(eval_sums, as_arrays(data["val"]), 500),
        eval_every=max(per_epoch // 2, 1),
        best="exact_match",
        mode="max",
        report=report,
        curves=("loss", "exact_match"),
        log_every=max(per_epoch // 10, 1),
    )


def plot_attention(captioner: Captioner, params, images: np.ndarray, path: Path) -> Path:
    """Each scene with the attention map of every generated word."""
    _, _, generate = make_fns(captioner)
    tokens = generate(params, images)
    _, weights = captioner.teacher_forced(params, jnp.asarray(images), tokens)
    side = int(np.sqrt(weights.shape[-1]))
    rows = []
    for image, toks, w in zip(images, np.asarray(tokens), np.asarray(weights)):
        said = words(toks).split()
        maps = w[: len(said)].reshape(len(said), side, side)
        rows.append((image, said, maps))
    return plotting.plot_attention(rows, path)


def summary(results: dict, figures: Path) -> str:
    lines = [f"\n{'test scenes':<14}{'BLEU-4':>8}{'exact':>8}   exact by digits"]
    for name, r in results.items():
        by = ", ".join(f"{n}: {v:.3f}" for n, v in r["exact_match_by_digits"].items())
        lines.append(f"{name:<14}{r['bleu4']:>8.2f}{r['exact_match']:>8.4f}   {by}")
    return "\n".join([*lines, f"figures in {figures}"])


class SceneCaptioner:
    """A trained captioner from its run directory.

    >>> cap = SceneCaptioner.load("runs/caption/default")
    >>> cap.predict(images, beam=3)          # uint8 [N, 64, 64] -> ["a seven left of a two", ...]
    """

    def __init__(self, run: experiment.TrainedRun):
        self.config, self.step = run.typed(Config), run.step
        self.captioner = build_captioner(self.config)
        like = jax.eval_shape(self.captioner.init, jax.random.PRNGKey(0))
        experiment.check_params(run.params, like, run.source)
        self.params = jax.tree.map(jnp.asarray, run.params)

    @classmethod
    def load(cls, run_dir: str | Path, which: str = "best") -> "SceneCaptioner":
        return cls(experiment.load_run(run_dir, NAME, which))

    def predict(self, images: np.ndarray, beam: int = 0) -> list[str]:
        images = np.asarray(images)
        if images.ndim != 3 or images.shape[1:] != (64, 64):
            raise ValueError(f"expected images [N, 64, 64], got shape {images.shape}")
        return captions(self.captioner, self.params, images, beam)


EXPERIMENT = Experiment(name=NAME, config=Config, make_task=make_task, options=Options)

if __name__ == "__main__":
    EXPERIMENT.main()
