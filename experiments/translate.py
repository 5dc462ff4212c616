"""Translate dates from human formats to ISO: why translation uses an encoder-decoder.

    python -m experiments.translate                          # encoder-decoder with attention
    python -m experiments.translate --model.kind encdec      # encoder-decoder, one vector
    python -m experiments.translate --model.kind plain       # one output per input step
    python -m experiments.translate --help

"April 22, 2019", "22/04/2019", "Monday 22nd of April 2019", ... -> "2019-04-22"
(:mod:`rnn_jax.data.dates`, nine formats), character by character. The test
dates come from years no training date has (1995-1999 by default). Three
models: ``plain``, a causal LSTM that emits the i-th output character at the
i-th input character (a plain sequence-to-sequence RNN: it must answer before
it has read the year); ``encdec``, a bidirectional LSTM encoder and an LSTM
decoder that sees the encoder only through one vector (the outputs' mean);
``attention``, the same decoder attending over every encoder output (Bahdanau
et al. 2015). Decoders are trained with teacher forcing and decode greedily.
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
from rnn_jax.data import dates
from rnn_jax.errors import ConfigError
from rnn_jax.models import decode
from rnn_jax.models.sequence import count_params
from rnn_jax.models.translator import KINDS, Translator
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel

NAME = "translate"
IN_VOCAB = ("<pad>", *dates.ALPHABET)
OUT_VOCAB = ("<pad>", "<start>", "<end>", *"0123456789-")
PAD, START, END = 0, 1, 2
OUT_LEN = 11  # YYYY-MM-DD and <end>
IN_LEN = 32  # the longest format ("Wednesday, September 27, 2019" and the like)


@dataclass(frozen=True)
class DataConfig:
    years: tuple[int, int] = (1900, 2049)
    """Years the dates are drawn from (inclusive)."""
    test_years: tuple[int, int] = (1995, 1999)
    """Years of the test dates only; no training or validation date is in them."""
    train_dates: Annotated[int, checks.count] = 40_000
    """Training dates, each in a random format."""
    val_dates: Annotated[int, checks.count] = 2_000
    """Validation dates (training years)."""
    test_dates: Annotated[int, checks.count] = 10_000
    """Test dates (test years)."""


@dataclass(frozen=True)
class ModelConfig:
    kind: Annotated[str, checks.one_of(*KINDS)] = "attention"
    """attention (encoder-decoder with attention), encdec (one vector) or plain."""
    hidden: Annotated[int, checks.count] = 128
    """LSTM units of the encoder (each direction) and the decoder."""
    embed: Annotated[int, checks.count] = 32
    """Character embedding size."""


@dataclass(frozen=True)
class TrainConfig(task.EpochTrainConfig):
    epochs: int = 6
    batch_size: int = 128
    lr: float = 3e-3


@dataclass(frozen=True)
class Config(task.Config):
    """Train a character-level date translator (human formats -> ISO 8601)."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


def encode_input(text: str) -> np.ndarray:
    """Character ids of a human-written date, padded to :data:`IN_LEN`."""
    if len(text) > IN_LEN or any(c not in IN_VOCAB for c in text):
        raise ValueError(f"{text!r} is not a date this model reads (at most {IN_LEN} characters)")
    ids = [IN_VOCAB.index(c) for c in text]
    return np.array(ids + [PAD] * (IN_LEN - len(ids)), np.int32)


def encode_output(iso: str) -> np.ndarray:
    return np.array([OUT_VOCAB.index(c) for c in iso] + [END], np.int32)


def decode_output(tokens) -> str:
    """The ISO string of generated ids, up to the first special id (``<end>``; an
    untrained model may emit the others)."""
    return decode.to_text(tokens, OUT_VOCAB, (PAD, START, END), sep="")


def build_translator(config: Config) -> Translator:
    m = config.model
    vocab = dict(in_vocab=len(IN_VOCAB), out_vocab=len(OUT_VOCAB), start=START, end=END)
    return Translator(m.kind, m.hidden, m.embed, **vocab, out_len=OUT_LEN)


def make_splits(config: Config) -> dict[str, dates.Dates]:
    """Train and validation dates from the training years, test dates from the test years."""
    d = config.data
    lo, hi = d.test_years
    if not d.years[0] <= lo <= hi <= d.years[1] or d.years[0] < 1:
        raise ConfigError(
            f"--data.test-years {lo} {hi} must lie inside --data.years {d.years[0]} {d.years[1]}"
        )
    rng = np.random.default_rng(config.seed)
    held = range(lo, hi + 1)
    seen = dates.dates_in(tuple(d.years), d.train_dates + d.val_dates, rng, exclude=held)
    test = dates.dates_in((lo, hi), d.test_dates, rng)
    return {
        "train": dates.corpus(seen[: d.train_dates], rng),
        "val": dates.corpus(seen[d.train_dates :], rng),
        "test": dates.corpus(test, rng),
    }


def as_arrays(s: dates.Dates) -> dict[str, np.ndarray]:
    return {
        "chars": np.stack([encode_input(t) for t in s.texts]),
        "target": np.stack([encode_output(iso) for iso in s.isos]),
    }


@functools.cache
def make_fns(translator: Translator):
    """The teacher-forced loss, the validation sums (greedy, inside jit) and a jitted
    ``translate``."""

    def loss_fn(params, batch, key):
        logits, _ = translator.logits(params, batch["chars"], batch["target"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["target"]).mean(), {}

    def eval_sums(params, batch):
        same = jnp.all(translator.translate(params, batch["chars"]) == batch["target"], axis=1)
        w = batch["weight"]
        return {"exact_match": jnp.sum(w * same.astype(jnp.float32)), "count": jnp.sum(w)}

    return loss_fn, eval_sums, jax.jit(translator.translate)


def translations(translator: Translator, params, chars: np.ndarray) -> list[str]:
    _, _, translate = make_fns(translator)
    return [
        decode_output(t) for t in batching.in_chunks(lambda c: translate(params, c), chars, 1000)
    ]


def make_task(config: Config, options: experiment.RunOptions) -> task.Task:
    """The translator's run: dates, model, loss, validation, the test report."""
    data = make_splits(config)
    translator = build_translator(config)
    loss_fn, eval_sums, _ = make_fns(translator)
    arrays = {name: as_arrays(s) for name, s in data.items()}

    def report(params, run_dir: Path) -> task.Report:
        test = data["test"]
        said = translations(translator, params, arrays["test"]["chars"])
        right = np.array([s == iso for s, iso in zip(said, test.isos)])
        lengths = np.array([len(t) for t in test.texts])
        by_length = {
            f"{lo}-{lo + 3}": float(right[(lengths >= lo) & (lengths < lo + 4)].mean())
            for lo in range(8, IN_LEN + 1, 4)
            if ((lengths >= lo) & (lengths < lo + 4)).any()
        }
        by_format = {  # the formats the test dates were drawn in
            name: float(right[test.formats == k].mean())
            for k, name in enumerate(dates.FORMATS)
            if np.any(test.formats == k)
        }
        figures = run_dir / "figures"
        plotting.plot_line(
            list(by_length),
            {config.model.kind: list(by_length.values())},
            figures / "exact_vs_length.png",
            xlabel="input length (characters)",
            ylabel="test exact match",
            title="Dates to ISO, test years only",
        )
        if translator.kind == "attention":
            plot_alignments(translator, params, test.texts[:4], figures / "attention.png")
        pairs = zip(test.texts, said, test.isos)
        wrong = [f"{t!r} -> {s!r} (true {iso})" for t, s, iso in pairs if s != iso]
        results = {
            "exact_match": float(right.mean()),
            "exact_by_input_length": by_length,
            "exact_by_format": by_format,
            "examples_wrong": wrong[:10],
            "params": count_params(params),
        }
        lines = [f"test exact match {results['exact_match']:.4f} ({config.model.kind})"]
        lines += [f"  {name:<32}{v:.4f}" for name, v in by_format.items()]
        lines += [f"  input {k:<26}{v:.4f}" for k, v in by_length.items()]
        lines += [f"  wrong: {w}" for w in wrong[:3]] + [f"figures in {figures}"]
        return task.Report(results, {"exact_match": results["exact_match"]}, "\n".join(lines))

    return task.Task(
        experiment=NAME,
        config=config,
        init=translator.init,
        loss_fn=loss_fn,
        train_data=arrays["train"],
        batch_size=config.train.batch_size,
        schedule=task.by_epochs(config.train, len(data["train"].texts), evals=2, logs=5),
        evaluate=train.Validation(eval_sums, arrays["val"], 1000),
        best="exact_match",
        mode="max",
        report=report,
        curves=("loss", "exact_match"),
    )


def plot_alignments(translator: Translator, params, texts: list[str], path: Path) -> Path:
    """For each date, the attention weight of every output character on every input one."""
    chars = np.stack([encode_input(t) for t in texts])
    _, _, translate = make_fns(translator)
    tokens = translate(params, chars)
    _, weights = translator.logits(params, jnp.asarray(chars), tokens)
    panels = []
    for text, toks, w in zip(texts, np.asarray(tokens), np.asarray(weights)):
        out = decode_output(toks)
        panels.append((list(text), list(out), w[: len(out), : len(text)]))
    return plotting.plot_alignments(panels, path)


def predict(trained: TrainedModel, texts: list[str]) -> list[str]:
    """Each human-written date in ISO form (``"Monday 22nd of April 2019"`` -> ``"2019-04-22"``)."""
    chars = np.stack([encode_input(t) for t in texts])
    return translations(trained.model, trained.params, chars)


EXPERIMENT = Experiment(
    name=NAME, config=Config, make_task=make_task, build=build_translator, predict=predict
)

if __name__ == "__main__":
    EXPERIMENT.main()
