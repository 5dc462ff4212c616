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
from rnn_jax.data.scenes import END, MAX_LEN, PAD, START, VOCAB
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import text_metrics as tm
from rnn_jax.models import decode
from rnn_jax.models.captioner import ATTENTIONS, Captioner
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "caption"


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
    attention: Annotated[str, checks.one_of(*ATTENTIONS)] = "additive"
    """Attention over the feature map's cells: additive, dot, or none (one vector)."""
    channels: Annotated[tuple[int, ...], checks.count] = (16, 32, 64, 128)
    """Channels of the conv layers (3x3, ReLU, max pool 2x2 each): four layers give a
    4 x 4 map, 2 x 2 cells per grid cell."""
    hidden: Annotated[int, checks.count] = 192
    """LSTM units of the decoder."""
    embed: Annotated[int, checks.count] = 64
    """Word embedding size."""


@dataclass(frozen=True)
class TrainConfig(task.EpochTrainConfig):
    epochs: int = 4
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 200


@dataclass(frozen=True)
class Config(task.MnistConfig):
    """Train a CNN + LSTM captioner of MNIST digit scenes."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


@dataclass(frozen=True)
class Options(experiment.ReportOptions):
    beams: Annotated[tuple[int, ...], checks.count] = (1, 3, 5)
    """Beam widths the test scenes are also captioned with (besides greedy decoding)."""


def words(tokens) -> str:
    """The caption of generated ids, up to the first ``<end>``."""
    return decode.to_text(tokens, VOCAB, (END, PAD))


def build_captioner(config: Config) -> Captioner:
    m = config.model
    if not 1 <= len(m.channels) <= 5:
        raise ConfigError(
            f"--model.channels needs 1-5 conv layers' channels (a 64 x 64 scene pooled 2x2 "
            f"by each), got {m.channels}"
        )
    return Captioner(
        len(VOCAB), START, END, MAX_LEN, tuple(m.channels), m.attention, m.hidden, m.embed
    )


def make_scenes(config: Config, data_dir: str | None) -> dict[str, scenes.Scenes]:
    """Train, validation and test scenes; each split's digits come from its own pool."""
    d = config.data
    splits = config.digits(data_dir, d.val_digits)
    counts = {"train": d.train_scenes, "val": d.val_scenes, "test": d.test_scenes}
    return scenes.per_split(scenes.captioned_scenes, splits, counts, config.seed)


@functools.cache
def make_fns(captioner: Captioner):
    """The teacher-forced loss, the validation sums (greedy captions inside jit) and a jitted
    ``generate(params, images, width)``."""

    def loss_fn(params, batch, key):
        images = mnist.pixels(batch["image"])
        logits, _ = captioner.teacher_forced(params, images, batch["target"])
        mask = (batch["target"] != PAD).astype(jnp.float32)
        xent = optax.softmax_cross_entropy_with_integer_labels(logits, batch["target"])
        return jnp.sum(xent * mask) / jnp.sum(mask), {}

    def eval_sums(params, batch):
        tokens = captioner.generate(params, mnist.pixels(batch["image"]))
        want = jnp.where(batch["target"] == PAD, END, batch["target"])
        same = jnp.all(tokens == want, axis=1).astype(jnp.float32)
        w = batch["weight"]
        return {"exact_match": jnp.sum(w * same), "count": jnp.sum(w)}

    generate = jax.jit(
        lambda params, images, width=0: captioner.generate(params, mnist.pixels(images), width),
        static_argnames="width",
    )
    return loss_fn, eval_sums, generate


def captions(captioner: Captioner, params, images: np.ndarray, width: int = 0) -> list[str]:
    _, _, generate = make_fns(captioner)
    tokens = batching.in_chunks(lambda x: generate(params, x, width=width), images, 500)
    return [words(t) for t in tokens]


def score(hyps: list[str], test: scenes.Scenes) -> dict:
    """BLEU-4 and exact match, overall and by the number of digits in the scene."""
    exact = lambda h, r: tm.exact_match([x.split() for x in h], [x.split() for x in r])  # noqa: E731
    digits = (test.labels >= 0).sum(1)
    return {
        "bleu4": tm.bleu4(hyps, test.captions),
        "exact_match": exact(hyps, test.captions),
        "exact_match_by_digits": tm.grouped(exact, hyps, test.captions, digits),
    }


def make_task(config: Config, options: Options) -> task.Task:
    """The captioner's training run: scenes, model, loss, validation, test report."""
    data = make_scenes(config, options.data_dir)
    captioner = build_captioner(config)
    loss_fn, eval_sums, _ = make_fns(captioner)
    arrays = {
        name: {"image": s.images, "target": np.stack([scenes.caption_ids(c) for c in s.captions])}
        for name, s in data.items()
    }

    def report(params, run_dir: Path) -> task.Report:
        test = data["test"]
        results = {"greedy": score(captions(captioner, params, test.images), test)}
        for width in options.beams:
            results[f"beam{width}"] = score(captions(captioner, params, test.images, width), test)
        figures = run_dir / "figures"
        said = captions(captioner, params, test.images[:6])
        titles = [h if h == r else f"{h}\n(true: {r})" for h, r in zip(said, test.captions)]
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
        train_data=arrays["train"],
        batch_size=config.train.batch_size,
        schedule=task.by_epochs(config.train, len(data["train"].images), evals=2, logs=10),
        evaluate=train.Validation(eval_sums, arrays["val"], 500),
        best="exact_match",
        mode="max",
        report=report,
        curves=("loss", "exact_match"),
    )


def plot_attention(captioner: Captioner, params, images: np.ndarray, path: Path) -> Path:
    """Each scene with the attention map of every generated word."""
    _, _, generate = make_fns(captioner)
    tokens = generate(params, images)
    _, weights = captioner.teacher_forced(params, mnist.pixels(jnp.asarray(images)), tokens)
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


def predict(trained: TrainedModel, images: np.ndarray, beam: int = 0) -> list[str]:
    """Captions of scenes ``uint8 [N, 64, 64]``, greedy or by a beam of width ``beam``."""
    images = expect(images, (None, 64, 64), "images")
    return captions(trained.model, trained.params, images, beam)


EXPERIMENT = Experiment(
    name=NAME,
    config=Config,
    make_task=make_task,
    build=build_captioner,
    predict=predict,
    options=Options,
)

if __name__ == "__main__":
    EXPERIMENT.main()
