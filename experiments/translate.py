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
from rnn_jax.models.seq2seq import AttentionDecoder
from rnn_jax.models.sequence import count_params
from rnn_jax.nn import dense
from rnn_jax.recurrent import cells, stack
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment

NAME = "translate"
KINDS = ("attention", "encdec", "plain")
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
    kind: str = "attention"
    """attention (encoder-decoder with attention), encdec (one vector) or plain."""
    hidden: Annotated[int, checks.count] = 128
    """LSTM units of the encoder (each direction) and the decoder."""
    embed: Annotated[int, checks.count] = 32
    """Character embedding size."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    epochs: Annotated[int, checks.count] = 6
    """Passes over the training dates."""
    batch_size: Annotated[int, checks.count] = 128
    """Dates per step."""
    lr: float = 3e-3
    """Peak learning rate of Adam."""


@dataclass(frozen=True)
class Config:
    """Train a character-level date translator (human formats -> ISO 8601)."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    seed: int = 0
    """Seed for the dates, their formats, initialisation and shuffling."""


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


@dataclass(frozen=True)
class Translator:
    """One of the three models; ``logits`` for training, ``translate`` for generating."""

    kind: str
    hidden: int
    embed: int

    @property
    def decoder(self) -> AttentionDecoder:
        att = "additive" if self.kind == "attention" else None
        memory = 2 * self.hidden + self.embed
        return AttentionDecoder(len(OUT_VOCAB), memory, self.embed, self.hidden, att)

    def init(self, key):
        ke, kr, kd = jax.random.split(key, 3)
        lstm = cells.get_cell("lstm")
        params = {"embed": jax.random.normal(ke, (len(IN_VOCAB), self.embed)) * 0.3}
        if self.kind == "plain":
            params["rnn"] = stack.stack_init(kr, lstm, self.embed, (self.hidden,))
            params["out"] = dense.linear_init(kd, self.hidden, len(OUT_VOCAB))
        else:
            params["rnn"] = stack.bidirectional_init(kr, lstm, self.embed, self.hidden)
            params["decoder"] = self.decoder.init(kd)
        return params

    def memory(self, params, chars: jax.Array) -> tuple[jax.Array, jax.Array]:
        """What the decoder reads ``[B, N, 2H + embed]``, and the mask of real characters:
        each character's encoder outputs beside its own embedding, so that copying a
        digit does not depend on the context it was seen in (the test years' digits
        follow prefixes no training date has)."""
        mask = chars != PAD
        lengths = jnp.sum(mask, axis=1).astype(jnp.int32)
        embedded = params["embed"][chars]
        _, ys = stack.bidirectional_apply(
            cells.get_cell("lstm"), params["rnn"], embedded, seq_lengths=lengths
        )
        return jnp.concatenate([ys, embedded], axis=-1), mask

    def plain_logits(self, params, chars: jax.Array) -> jax.Array:
        """The causal model's ``[B, IN_LEN, vocab]``: output i after reading input 0..i."""
        _, ys = stack.stack_apply(cells.get_cell("lstm"), params["rnn"], params["embed"][chars])
        return dense.linear_apply(params["out"], ys)

    def logits(self, params, chars: jax.Array, targets: jax.Array):
        """Teacher-forced logits ``[B, OUT_LEN, vocab]`` and attention weights (or None)."""
        if self.kind == "plain":
            return self.plain_logits(params, chars)[:, :OUT_LEN], None
        inputs = jnp.concatenate([jnp.full_like(targets[:, :1], START), targets[:, :-1]], axis=1)
        memory, mask = self.memory(params, chars)
        return self.decoder.teacher_forced(params["decoder"], memory, inputs, mask)

    def translate(self, params, chars: jax.Array) -> jax.Array:
        """Generated ids ``[B, OUT_LEN]`` (greedy)."""
        if self.kind == "plain":
            return jnp.argmax(self.plain_logits(params, chars)[:, :OUT_LEN], -1).astype(jnp.int32)
        memory, mask = self.memory(params, chars)
        dec = self.decoder
        state = dec.start(params["decoder"], memory, mask)
        start = jnp.full((chars.shape[0],), START, jnp.int32)
        return decode.greedy(dec.bound(params["decoder"]), state, start, OUT_LEN, END)[0]


def build_translator(config: Config) -> Translator:
    if config.model.kind not in KINDS:
        raise ConfigError(f"unknown --model.kind {config.model.kind!r}; choose one of {KINDS}")
    return Translator(config.model.kind, config.model.hidden, config.model.embed)


def make_splits(config: Config) -> dict[str, dates.Dates]:
    """Train and validation dates from the training years, test dates from the test years."""
    d = config.data
    lo, hi = d.test_years
    if min(d.train_dates, d.val_dates, d.test_dates) < 1:
        raise ConfigError(
            "--data.train-dates, --data.val-dates and --data.test-dates must be positive"
        )
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
    per_epoch = config.data.train_dates // max(config.train.batch_size, 1)

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
        by_format = {
            name: float(right[test.formats == k].mean()) for k, name in enumerate(dates.FORMATS)
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
        wrong = [
            f"{t!r} -> {s!r} (true {iso})"
            for t, s, iso in zip(test.texts, said, test.isos)
            if s != iso
        ]
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
        steps=per_epoch * config.train.epochs,
        evaluate=train.Validation(eval_sums, arrays["val"], 1000),
        eval_every=max(per_epoch // 2, 1),
        best="exact_match",
        mode="max",
        report=report,
        curves=("loss", "exact_match"),
        log_every=max(per_epoch // 5, 1),
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


class DateTranslator:
    """A trained translator from its run directory.

    >>> DateTranslator.load("runs/translate/default").predict(["Monday 22nd of April 2019"])
    ['2019-04-22']
    """

    def __init__(self, run: experiment.TrainedRun):
        self.config, self.step = run.typed(Config), run.step
        self.translator = build_translator(self.config)
        like = jax.eval_shape(self.translator.init, jax.random.PRNGKey(0))
        experiment.check_params(run.params, like, run.source)
        self.params = jax.tree.map(jnp.asarray, run.params)

    @classmethod
    def load(cls, run_dir: str | Path, which: str = "best") -> "DateTranslator":
        return cls(experiment.load_run(run_dir, NAME, which))

    def predict(self, texts: list[str]) -> list[str]:
        chars = np.stack([encode_input(t) for t in texts])
        return translations(self.translator, self.params, chars)


EXPERIMENT = Experiment(name=NAME, config=Config, make_task=make_task)

if __name__ == "__main__":
    EXPERIMENT.main()
