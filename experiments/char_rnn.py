"""Character-level language model: toy words, the long sentence, or any text file.

    python -m experiments.char_rnn                            # the long sentence (default)
    python -m experiments.char_rnn --word hihello              # learn one word, printing it
    python -m experiments.char_rnn --text-file book.txt --embed 32 --temperature 0.8
    python -m experiments.char_rnn --help

Training examples are windows of ``--seq-len`` characters, ``x = chars[i : i+n]``
and ``y = chars[i+1 : i+n+1]``; a stacked LSTM reads one-hot (or embedded)
characters, a dense layer at every step gives next-character logits, and the
loss is the mean cross-entropy over the sequence. After training the text is
rebuilt from its first window, one greedy character at a time (each
prediction slides into the window), and the fraction of characters right is
reported; a temperature sampler continues the text from a prompt.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from rnn_jax.data import text
from rnn_jax.errors import ConfigError
from rnn_jax.models import sample
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.training import checks, experiment, task
from rnn_jax.training.definition import Experiment, TrainedModel

NAME = "char_rnn"
SENTENCE = (
    "if you want to build a ship, don't drum up people together to collect wood and don't "
    "assign them tasks and work, but rather teach them to long for the endless immensity of "
    "the sea."
)


@dataclass(frozen=True)
class ModelConfig:
    cell: task.CellName = "lstm"
    hidden: Annotated[tuple[int, ...], checks.count] = (64, 64)
    """Hidden units per layer (the course: a stacked 2-layer LSTM)."""
    embed: Annotated[int, checks.non_negative] = 0
    """Embedding width for the input characters; 0: one-hot inputs."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    steps: Annotated[int, checks.count] = 600
    """Optimizer steps."""
    batch_size: Annotated[int, checks.count] = 32
    """Windows per step (fewer if the text has fewer)."""
    lr: float = 1e-2
    schedule: str = "constant"
    """Learning-rate schedule: constant, or cosine (linear warm-up, then decay to 0)."""


@dataclass(frozen=True)
class Config(task.Config):
    """Train a character-level RNN language model and rebuild / sample text with it."""

    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    word: str | None = None
    """Learn one toy word (e.g. hihello), printing the predicted string as it trains."""
    text_file: str | None = None
    """Train on this UTF-8 text file instead of the long sentence."""
    seq_len: Annotated[int, checks.count] = 10
    """Characters per training window (a word uses its own length - 1)."""
    temperature: Annotated[float, checks.positive] = 1.0
    """Sampling temperature (lower: more conservative)."""
    sample_len: Annotated[int, checks.count] = 200
    """Characters to sample after the prompt."""
    prompt: str | None = None
    """Prompt for sampling; default: the first window of the text."""


class CharModel:
    """Characters in, next-character logits out, for one vocabulary and config."""

    def __init__(self, config: Config, vocab: text.Vocab):
        m = config.model
        self.vocab, self.embed = vocab, m.embed
        in_dim = m.embed or len(vocab)
        self.rnn = SequenceModel(
            in_dim=in_dim, out_dim=len(vocab), cell=m.cell, hidden=tuple(m.hidden)
        )

    def init(self, key) -> dict:
        k1, k2 = jax.random.split(key)
        params = {"net": self.rnn.init(k1)}
        if self.embed:
            params["embed"] = 0.1 * jax.random.normal(k2, (len(self.vocab), self.embed))
        return params

    def inputs(self, params, ids: jax.Array) -> jax.Array:
        """Character ids ``[...]`` -> input vectors ``[..., in_dim]`` (embedding or one-hot)."""
        if self.embed:
            return params["embed"][ids]
        return jax.nn.one_hot(ids, len(self.vocab), dtype=jnp.float32)

    def logits(self, params, ids: jax.Array) -> jax.Array:
        """``[B, T]`` ids -> ``[B, T, V]`` logits of the next character at every step."""
        return self.rnn.apply_seq(params["net"], self.inputs(params, ids))

    def loss(self, params, batch, key=None):
        logits = self.logits(params, batch["x"])
        xent = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        acc = jnp.mean(jnp.argmax(logits, -1) == batch["y"])
        return xent, {"accuracy": acc}

    def rebuild(self, params, window: jax.Array, length: int) -> jax.Array:
        """Greedy continuation of ``window [B, n]`` by ``length`` ids, sliding the window."""
        predict = lambda w: self.logits(params, w)[:, -1]  # noqa: E731
        return sample.sliding_window(predict, window, length, feedback=sample.greedy)

    def sample(self, params, prompt: jax.Array, key, length: int, temperature: float) -> jax.Array:
        """Warm the state up on ``prompt [B, n]``, then sample ``length`` ids carrying it."""
        net = params["net"]
        carries, logits = self.rnn.warm_up(net, self.inputs(params, prompt))
        step = lambda c, ids: self.rnn.step(net, c, self.inputs(params, ids))  # noqa: E731
        return sample.carry_forward(
            step, carries, logits, length, feedback=sample.temperature(temperature), key=key
        )


def load_text(config: Config) -> str:
    if config.word is not None and config.text_file is not None:
        raise ConfigError("pass either --word or --text-file, not both")
    if config.word is not None:
        if len(config.word) < 2:
            raise ConfigError(f"--word needs at least 2 characters, got {config.word!r}")
        return config.word
    if config.text_file:
        return text.read_text(config.text_file)
    return SENTENCE


def make_task(config: Config, options: experiment.RunOptions) -> task.Task:
    """Windows of the text; the report rebuilds the text from its first window and samples."""
    corpus = load_text(config)
    seq_len = len(corpus) - 1 if config.word is not None else config.seq_len
    vocab = text.Vocab.from_text(corpus)
    ids = vocab.encode(corpus)
    x, y = text.char_windows(ids, seq_len)
    model = build_model(config)
    rebuild = jax.jit(model.rebuild, static_argnums=2)
    sampler = jax.jit(model.sample, static_argnums=(3, 4))
    mean_loss = jax.jit(lambda p, b: model.loss(p, b)[0])

    def evaluate(params):
        # The task is to fit (and rebuild) this text, so it is also the validation data.
        out = {"loss": float(mean_loss(params, {"x": x, "y": y}))}
        if config.word is not None:
            pred = np.asarray(jnp.argmax(model.logits(params, jnp.asarray(x[:1])), -1))[0]
            tqdm.write(f"prediction: {vocab.decode(pred)!r}")
        return out

    def report(params, run_dir: Path) -> task.Report:
        (run_dir / "vocab.json").write_text(json.dumps(vocab.chars))
        first = jnp.asarray(ids[None, :seq_len])
        rebuilt_ids = np.asarray(rebuild(params, first, len(ids) - seq_len))[0]
        rebuilt = vocab.decode(np.concatenate([ids[:seq_len], rebuilt_ids]))
        right = float(np.mean(rebuilt_ids == ids[seq_len:]))
        prompt = config.prompt if config.prompt is not None else corpus[:seq_len]
        prompt_ids = jnp.asarray(vocab.encode(prompt)[None])
        key = jax.random.PRNGKey(config.seed + 1)
        sampled = sampler(params, prompt_ids, key, config.sample_len, config.temperature)
        text_out = prompt + vocab.decode(np.asarray(sampled)[0])
        final_loss = float(mean_loss(params, {"x": x, "y": y}))
        results = {
            "final_loss": final_loss,
            "rebuild_accuracy": right,
            "rebuilt": rebuilt,
            "sample": text_out,
        }
        summary = (
            f"\nrebuilt from the first {seq_len} characters ({right:.1%} of the rest right):\n"
            f"{rebuilt}\n\nsample (temperature {config.temperature}):\n{text_out}"
        )
        return task.Report(results, {"loss": final_loss}, summary)

    t = config.train
    every = max(t.steps // 10, 1)
    return task.Task(
        experiment=NAME,
        config=config,
        init=model.init,
        loss_fn=model.loss,
        train_data={"x": x, "y": y},
        batch_size=min(t.batch_size, len(x)),
        schedule=task.Schedule(t.steps, eval_every=every, log_every=every),
        evaluate=evaluate,
        best="loss",
        mode="min",
        report=report,
        curves=("loss", "accuracy"),
        echo="loss",
    )


def build_model(config: Config) -> CharModel:
    """The model of a run of ``config``, its vocabulary that of the text it trains on."""
    return CharModel(config, text.Vocab.from_text(load_text(config)))


def predict(trained: TrainedModel, prompt: str, length: int = 200, seed: int = 0) -> str:
    """``length`` characters sampled after ``prompt`` at the run's ``--temperature``."""
    model, config = trained.model, trained.config
    ids = jnp.asarray(model.vocab.encode(prompt)[None])
    key = jax.random.PRNGKey(seed)
    sampled = model.sample(trained.params, ids, key, length, config.temperature)
    return model.vocab.decode(np.asarray(sampled)[0])


EXPERIMENT = Experiment(
    name=NAME, config=Config, make_task=make_task, build=build_model, predict=predict
)

if __name__ == "__main__":
    EXPERIMENT.main()
