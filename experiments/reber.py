"""The embedded Reber grammar: can a recurrent cell remember one symbol across a long string?

    python -m experiments.reber                                  # LSTM, grammatical or not
    python -m experiments.reber --model.cell rnn                 # tanh RNN (or gru)
    python -m experiments.reber --task predict                   # the LSTM paper's task
    python -m scripts.sweep reber --set model.cell=rnn,gru,lstm --set seed=0:3
    python -m experiments.reber --help

Embedded Reber strings (:mod:`rnn_jax.data.reber`) repeat their second symbol
(T or P) just before the end, across an inner Reber string of 5-40 symbols.
``--task classify``: tell grammatical strings from near-misses (balanced: half
grammatical, a quarter with the repeated symbol swapped, which only memory
catches, a quarter with one inner symbol changed, which the inner automaton
catches locally); the report gives each kind's accuracy by inner length, and
the long-range accuracy (the mean of the accuracies on grammatical and on
swapped strings of that length: 0.5 is chance). ``--task predict``: after each
prefix, predict the set of legal next symbols (one sigmoid per symbol); a
string is solved when every predicted set is right, and the long-range step is
the prediction of the repeated symbol.
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
from rnn_jax.data import reber
from rnn_jax.evaluation import grammar
from rnn_jax.models.sequence import SequenceModel, count_params
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel

NAME = "reber"
TASKS = ("classify", "predict")
BUCKET = 5  # inner lengths are reported in bins of this many symbols


@dataclass(frozen=True)
class DataConfig:
    lengths: tuple[int, int] = (5, 44)
    """Inner Reber string lengths (inclusive), uniform; every split draws from them."""
    train_strings: Annotated[int, checks.count] = 20_000
    """Training strings."""
    val_strings: Annotated[int, checks.count] = 2_000
    """Validation strings (choose the checkpoint)."""
    test_strings: Annotated[int, checks.count] = 10_000
    """Test strings (reported by inner length)."""


@dataclass(frozen=True)
class ModelConfig:
    cell: task.CellName = "lstm"
    hidden: Annotated[tuple[int, ...], checks.count] = (32,)
    """Hidden units of each recurrent layer."""


@dataclass(frozen=True)
class TrainConfig(task.EpochTrainConfig):
    epochs: int = 20
    """Passes over the training strings (the prediction task needs about 40 to find the
    long-range memory at all)."""
    batch_size: int = 64
    lr: float = 2e-3
    """Peak learning rate of Adam (5e-3 stalls the tanh RNN on classification)."""


@dataclass(frozen=True)
class Config(task.Config):
    """Train an RNN on embedded Reber strings."""

    task: Annotated[str, checks.one_of(*TASKS)] = "classify"
    """classify (grammatical or a near-miss) or predict (the legal next symbols)."""
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


def build_model(config: Config) -> SequenceModel:
    out = 2 if config.task == "classify" else len(reber.SYMBOLS)
    return SequenceModel(
        in_dim=len(reber.SYMBOLS), out_dim=out, cell=config.model.cell, hidden=config.model.hidden
    )


def make_splits(config: Config) -> dict[str, reber.Strings]:
    """Train, validation and test strings, each split from its own seed. The prediction task
    reads only the grammatical ones."""
    d = config.data
    counts = {"train": d.train_strings, "val": d.val_strings, "test": d.test_strings}
    splits = {
        name: reber.labelled(n, tuple(d.lengths), config.seed * 3 + i)
        for i, (name, n) in enumerate(counts.items())
    }
    if config.task == "predict":
        splits = {name: _grammatical(s) for name, s in splits.items()}
    return splits


def _grammatical(s: reber.Strings) -> reber.Strings:
    keep = np.flatnonzero(s.kinds == 0)
    return reber.Strings([s.strings[i] for i in keep], s.kinds[keep], s.inner[keep])


@functools.cache
def make_fns(model: SequenceModel, kind: str):
    """The loss, the evaluation sums and a jitted per-string scorer of the task ``kind``:
    ``correct(params, batch)`` gives (right, long-range part right) per string."""

    def outputs(params, batch):
        if kind == "classify":
            return model.apply_last(params, batch["x"], seq_lengths=batch["length"])
        return model.apply_seq(params, batch["x"])

    def correct(params, batch):
        out = outputs(params, batch)
        if kind == "classify":
            right = jnp.argmax(out, -1) == batch["label"]
            return right, right
        return grammar.prediction_scores(out, batch["legal"], batch["length"])

    def loss_fn(params, batch, key):
        out = outputs(params, batch)
        if kind == "classify":
            loss = optax.softmax_cross_entropy_with_integer_labels(out, batch["label"]).mean()
        else:
            steps, _ = grammar.prediction_masks(batch["length"], out.shape[1])
            bce = optax.sigmoid_binary_cross_entropy(out, batch["legal"]).sum(-1)
            steps = steps.astype(jnp.float32)
            loss = jnp.sum(bce * steps) / jnp.sum(steps)
        return loss, {}

    def eval_sums(params, batch):
        right, _ = correct(params, batch)
        w = batch["weight"]
        return {"accuracy": jnp.sum(w * right.astype(jnp.float32)), "count": jnp.sum(w)}

    return loss_fn, eval_sums, jax.jit(correct)


def make_task(config: Config, options: experiment.RunOptions) -> task.Task:
    """The Reber run: strings, model, loss, validation, the by-length test report."""
    model = build_model(config)
    data = make_splits(config)
    loss_fn, eval_sums, correct = make_fns(model, config.task)
    width = config.data.lengths[1] + 4
    arrays = {name: reber.arrays(s, width, config.task) for name, s in data.items()}
    lengths = tuple(config.data.lengths)

    def report(params, run_dir: Path) -> task.Report:
        test = data["test"]
        right, long_right = batching.in_chunks(
            lambda batch: correct(params, batch), arrays["test"], 1000
        )
        bins = [f"{lo}-{lo + BUCKET - 1}" for lo in range(lengths[0], lengths[1] + 1, BUCKET)]
        by = lambda v, rows: grammar.by_length(v[rows], test.inner[rows], lengths, BUCKET)  # noqa: E731
        kinds = {name: test.kinds == k for k, name in enumerate(reber.KINDS)}
        if config.task == "classify":
            series = {f"{name} strings": by(right, rows) for name, rows in kinds.items()}
            # Grammatical and swapped strings weighted equally: 0.5 is chance.
            label, curve = "long-range accuracy", grammar.balanced(*series.values())
            by_kind = {name: float(right[rows].mean()) for name, rows in kinds.items()}
            results = {"test_accuracy": float(right.mean()), "accuracy_by_kind": by_kind}
        else:
            label, every = "long-range step right", np.ones(len(right), bool)
            series = {"solved": by(right, every), label: by(long_right, every)}
            curve = series[label]
            results = {
                "test_solved": float(right.mean()),
                "long_range_step": float(long_right.mean()),
            }
        headline = float(right.mean())
        results |= {
            "by_inner_length": {"bins": bins, **series},
            "curve": task.curve(
                "long_range_vs_length",
                bins,
                curve,
                "inner length",
                label,
                f"Embedded Reber, {config.task}",
            ),
            "params": count_params(params),
        }
        figures = run_dir / "figures"
        plotting.plot_line(
            bins,
            series,
            figures / "by_length.png",
            xlabel="inner Reber string length",
            ylabel="test accuracy" if config.task == "classify" else "test fraction",
            title=f"Embedded Reber, {config.model.cell}: {config.task}",
        )
        rows = "\n".join(
            f"{b:>8}" + "".join(f"{v:>14.4f}" if v is not None else f"{'-':>14}" for v in vals)
            for b, *vals in zip(bins, *series.values())
        )
        head = f"{'inner':>8}" + "".join(f"{name[:13]:>14}" for name in series)
        what = "accuracy" if config.task == "classify" else "solved"
        params = results["params"]
        summary = f"test {what} {headline:.4f} ({config.model.cell}, {params} params)"
        summary = f"{summary}\n{head}\n{rows}\nfigures in {figures}"
        return task.Report(results, {"accuracy": headline}, summary)

    return task.Task(
        experiment=NAME,
        config=config,
        init=model.init,
        loss_fn=loss_fn,
        train_data=arrays["train"],
        batch_size=config.train.batch_size,
        schedule=task.by_epochs(config.train, len(data["train"].strings), evals=1, logs=4),
        evaluate=train.Validation(eval_sums, arrays["val"], 1000),
        best="accuracy",
        mode="max",
        report=report,
        curves=("loss", "accuracy"),
    )


def predict(trained: TrainedModel, strings: list[str]) -> np.ndarray | list[list[str]]:
    """``classify``: the probability that each string is grammatical ``[N]``; ``predict``:
    after each prefix of each string, the symbols the model takes for legal next."""
    if not strings or any(not s or set(s) - set(reber.SYMBOLS) for s in strings):
        raise ValueError(f"expected strings of the symbols {reber.SYMBOLS}, got {strings!r}")
    x, length = reber.one_hot(strings, max(map(len, strings)))
    model, params = trained.model, trained.params
    if trained.config.task == "classify":
        logits = model.apply_last(params, jnp.asarray(x), seq_lengths=jnp.asarray(length))
        return np.asarray(jax.nn.softmax(logits, -1)[:, 1])
    legal = np.asarray(model.apply_seq(params, jnp.asarray(x))) > 0
    return [
        ["".join(np.array(list(reber.SYMBOLS))[row]) for row in rows[:n]]
        for rows, n in zip(legal, length)
    ]


EXPERIMENT = Experiment(
    name=NAME, config=Config, make_task=make_task, build=build_model, predict=predict
)

if __name__ == "__main__":
    EXPERIMENT.main()
