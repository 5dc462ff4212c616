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

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from rnn_jax import cli, plotting, rundir, train
from rnn_jax.data import text
from rnn_jax.experiment import train_run
from rnn_jax.models import SequenceModel

EXPERIMENT = "char_rnn"
BEST = "val/loss"
SENTENCE = (
    "if you want to build a ship, don't drum up people together to collect wood and don't "
    "assign them tasks and work, but rather teach them to long for the endless immensity of "
    "the sea."
)


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "lstm"
    """Recurrent cell: rnn, rnn_relu, lstm, gru or gru_reset_after."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden units per layer (the course: a stacked 2-layer LSTM)."""
    embed: int = 0
    """Embedding width for the input characters; 0: one-hot inputs."""


@dataclass(frozen=True)
class TrainConfig(train.StepConfig):
    steps: int = 600
    """Optimizer steps."""
    batch_size: int = 32
    """Windows per step (fewer if the text has fewer)."""
    lr: float = 1e-2
    """Peak learning rate of Adam."""
    schedule: str = "constant"
    """Learning-rate schedule: constant, or cosine (linear warm-up, then decay to 0)."""


@dataclass(frozen=True)
class Config:
    """Train a character-level RNN language model and rebuild / sample text with it."""

    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    word: str | None = None
    """Learn one toy word (e.g. hihello), printing the predicted string as it trains."""
    text_file: str | None = None
    """Train on this UTF-8 text file instead of the long sentence."""
    seq_len: int = 10
    """Characters per training window (a word uses its own length - 1)."""
    temperature: float = 1.0
    """Sampling temperature (lower: more conservative)."""
    sample_len: int = 200
    """Characters to sample after the prompt."""
    prompt: str | None = None
    """Prompt for sampling; default: the first window of the text."""
    seed: int = 0
    """Seed for initialisation, shuffling and sampling."""
    workdir: str = "runs/char_rnn/default"
    """Run directory: config, metrics, checkpoints, results."""
    resume: bool = False
    """Continue the run in --workdir from its latest checkpoint."""


VOLATILE = ("workdir", "resume", "temperature", "sample_len", "prompt")


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
        """Greedy continuation of ``window [B, n]`` by ``length`` ids, sliding the window (scan)."""

        def body(window, _):
            nxt = jnp.argmax(self.logits(params, window)[:, -1], -1).astype(window.dtype)
            return jnp.concatenate([window[:, 1:], nxt[:, None]], axis=1), nxt

        _, out = jax.lax.scan(body, window, None, length=length)
        return jnp.swapaxes(out, 0, 1)

    def sample(self, params, prompt: jax.Array, key, length: int, temperature: float) -> jax.Array:
        """Warm the state up on ``prompt [B, n]``, then sample ``length`` ids carrying it (scan)."""
        carries, ys = self.rnn.features(params["net"], self.inputs(params, prompt))
        logits = self.rnn.head_apply(params["net"], ys[:, -1])

        def body(carry, key):
            carries, logits = carry
            nxt = jax.random.categorical(key, logits / temperature)
            carries, logits = self.rnn.step(params["net"], carries, self.inputs(params, nxt))
            return (carries, logits), nxt

        _, out = jax.lax.scan(body, (carries, logits), jax.random.split(key, length))
        return jnp.swapaxes(out, 0, 1)


def load_text(config: Config) -> str:
    if config.word is not None and config.text_file is not None:
        raise ValueError("pass either --word or --text-file, not both")
    if config.word is not None:
        if len(config.word) < 2:
            raise ValueError(f"--word needs at least 2 characters, got {config.word!r}")
        return config.word
    if config.text_file:
        return text.read_text(config.text_file)
    return SENTENCE


def train_and_evaluate(config: Config) -> dict:
    """Train on the text's windows, rebuild the text from its first window, sample from it."""
    corpus = load_text(config)
    seq_len = len(corpus) - 1 if config.word is not None else config.seq_len
    vocab = text.Vocab.from_text(corpus)
    ids = vocab.encode(corpus)
    x, y = text.char_windows(ids, seq_len)
    run_dir = rundir.prepare(
        config.workdir, EXPERIMENT, config, resume=config.resume, volatile=VOLATILE
    )
    (run_dir / "vocab.json").write_text(json.dumps(vocab.chars))
    model = CharModel(config, vocab)
    batch_size = min(config.train.batch_size, len(x))
    rebuild = jax.jit(model.rebuild, static_argnums=2)
    sample = jax.jit(model.sample, static_argnums=3)
    loss_sums = jax.jit(
        lambda p, b: {"loss": model.loss(p, b)[0] * len(b["x"]), "count": len(b["x"])}
    )

    def evaluate(params):
        # The task is to fit (and rebuild) this text, so it is also the validation data.
        out = {"val": {"loss": float(loss_sums(params, {"x": x, "y": y})["loss"]) / len(x)}}
        if config.word is not None:
            pred = np.asarray(jnp.argmax(model.logits(params, jnp.asarray(x[:1])), -1))[0]
            tqdm.write(f"prediction: {vocab.decode(pred)!r}")
        return out

    t = config.train
    run = train_run(
        experiment=EXPERIMENT,
        run_dir=run_dir,
        resume=config.resume,
        init_params=lambda: model.init(jax.random.PRNGKey(config.seed)),
        loss_fn=model.loss,
        tx=t.optimizer(t.steps),
        train_arrays={"x": x, "y": y},
        batch_size=batch_size,
        total_steps=t.steps,
        seed=config.seed,
        devices=config.train.devices,
        evaluate=evaluate,
        eval_every=max(t.steps // 10, 1),
        best_metric=BEST,
        best_mode="min",
        log_every=max(t.steps // 10, 1),
        echo="loss",
    )
    params = run.best_params
    first = jnp.asarray(ids[None, :seq_len])
    rebuilt_ids = np.asarray(rebuild(params, first, len(ids) - seq_len))[0]
    rebuilt = vocab.decode(np.concatenate([ids[:seq_len], rebuilt_ids]))
    right = float(np.mean(rebuilt_ids == ids[seq_len:]))
    prompt = config.prompt if config.prompt is not None else corpus[:seq_len]
    prompt_ids = jnp.asarray(vocab.encode(prompt)[None])
    key = jax.random.PRNGKey(config.seed + 1)
    sampled = sample(params, prompt_ids, key, config.sample_len, config.temperature)
    text_out = prompt + vocab.decode(np.asarray(sampled)[0])
    plotting.plot_curves(run.dir, ["loss", "accuracy"], run.dir / "figures" / "curves.png")
    results = {
        "best_step": run.best_step,
        "final_loss": model.loss(params, {"x": jnp.asarray(x), "y": jnp.asarray(y)})[0].item(),
        "rebuild_accuracy": right,
        "rebuilt": rebuilt,
        "sample": text_out,
    }
    (run.dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\nrebuilt from the first {seq_len} characters ({right:.1%} of the rest right):\n{rebuilt}"
    )
    print(f"\nsample (temperature {config.temperature}):\n{text_out}")
    return results


def main(args: list[str] | None = None) -> None:
    cli.run(Config, train_and_evaluate, args)


if __name__ == "__main__":
    main()
