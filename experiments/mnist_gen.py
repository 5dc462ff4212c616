"""Autoregressive MNIST completion: see the top 14 rows, draw the other 14 one row at a time.

    python -m experiments.mnist_gen                               # train + evaluate (defaults)
    python -m experiments.mnist_gen --data-dir DIR                # offline: the 4 MNIST files
    python -m experiments.mnist_gen --pretrained                  # the shipped model, no training
    python -m experiments.mnist_gen --mode window                 # the course's sliding window
    python -m experiments.mnist_gen --from RUN_DIR --generate     # reuse a trained run
    python -m experiments.mnist_gen --classifier RUN_DIR          # also: does the digit survive?
    python -m experiments.mnist_gen --model.output bernoulli      # rows with a likelihood (nats)
    python -m experiments.mnist_gen --help

The model (2 LSTM layers of 128 and 256, Dense(100, relu), Dense(28);
:class:`rnn_jax.models.completer.RowCompleter`) regresses each next row, trained on
its own rollouts (``--train.objective rollout``, the default) or on the real rows
(``next_row``, the course's; ``--mode window`` re-reads 14 rows for every new one),
or with ``--model.output bernoulli`` gives each row an exact-likelihood distribution
drawn pixel by pixel (``--binarize``: on binarized digits). All 10k test bottom
halves are generated and scored (MSE; nats with Bernoulli rows) beside four baselines.
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import numpy as np

import experiments
from rnn_jax import plotting
from rnn_jax.data import masks, mnist
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import completion
from rnn_jax.evaluation.baselines import completion_baselines
from rnn_jax.models.completer import MODES, OBJECTIVES, OUTPUTS, RowCompleter
from rnn_jax.models.made import RowMADE
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.training import batching, checks, experiment, task
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "mnist_gen"
ROWS, GIVEN = 28, 14


@dataclass(frozen=True)
class ModelConfig:
    cell: task.CellName = "lstm"
    hidden: Annotated[tuple[int, ...], checks.count] = (128, 256)
    """Hidden units of each recurrent layer (the course: 128 then 256; quick version: 10 10)."""
    head: Annotated[tuple[int, ...], checks.count] = (100,)
    """Hidden widths of the relu MLP between the last RNN output and the 28 pixels."""
    output: Annotated[str, checks.one_of(*OUTPUTS)] = "sigmoid"
    """Each next row: regressed through a sigmoid, or linear (the course's), or drawn from
    a Bernoulli per pixel, autoregressive within the row (bernoulli: trained by its
    negative log-likelihood; --train.objective does not apply)."""
    context: Annotated[int, checks.count] = 128
    """bernoulli: width of the row distribution's context (the head's output)."""
    made_hidden: Annotated[int, checks.count] = 512
    """bernoulli: masked hidden units of the row distribution."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    steps: Annotated[int, checks.count] = 4000
    """Optimizer steps."""
    batch_size: Annotated[int, checks.count] = 64
    """Images per step."""
    lr: float = 2e-3
    """Peak learning rate of Adam (the course: 5e-4, constant)."""
    objective: Annotated[str, checks.one_of(*OBJECTIVES)] = "rollout"
    """next_row (predict each next real row: the course's), rollout (the generated bottom
    half against the real one, backpropagated through the generation), or both (their sum)."""
    eval_every: Annotated[int, checks.count] = 500
    """Steps between validation generations (checkpoint points)."""
    val_size: Annotated[int, checks.count] = 5000
    """Training images held out (fixed by the seed); the first 1000 choose the checkpoint."""


@dataclass(frozen=True)
class Config(task.MnistConfig):
    """Train an LSTM that completes MNIST digits from their top 14 rows, row by row."""

    mode: Annotated[str, checks.one_of(*MODES)] = "teacher"
    """teacher (predict every next row, carry the state) or window (course: 14-row window)."""
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    binarize: bool = False
    """Binarized digits (each pixel on with its intensity's probability): drawn afresh at
    every step for training, once by the seed for validation and test."""


@dataclass(frozen=True)
class Options(experiment.ReportOptions):
    pretrained: bool = False
    """Generate and evaluate with the model shipped in the package (no training); results
    go to --workdir (default runs/mnist_gen/pretrained)."""
    pretrained_variant: Annotated[str | None, checks.one_of("bernoulli")] = None
    """With --pretrained: bernoulli, the shipped model with Bernoulli rows (samples, nats),
    instead of the regression one."""
    classifier: str | None = None
    """A mnist_classifier run directory, or 'pretrained': also report its accuracy on the
    completed images."""
    temperature: Annotated[float, checks.positive] = 1.0
    """bernoulli: the temperature of the sampled completions."""


def build_completer(config: Config) -> RowCompleter:
    m, bernoulli = config.model, config.model.output == "bernoulli"
    if bernoulli and config.mode != "teacher":
        raise ConfigError("--model.output bernoulli reads rows in --mode teacher only")
    out = m.context if bernoulli else ROWS
    net = SequenceModel(ROWS, out, cell=m.cell, hidden=tuple(m.hidden), head=m.head)
    made = RowMADE(ROWS, m.context, m.made_hidden) if bernoulli else None
    return RowCompleter(net, config.mode, config.train.objective, m.output, made, GIVEN)


@functools.cache
def make_fns(completer: RowCompleter, binarize: bool = False):
    """The loss (of images binarized afresh with ``binarize``); ``complete(params, images,
    key=None, how="mean", t=1.0)``, the top halves of uint8 images completed ``[N, 28, 28]``;
    and ``nll(params, images)``, ``-log p(pixel | pixels before it)`` in nats ``[N, 28, 28]``
    (``bernoulli``: summed over the bottom rows, the bottom half's given the top)."""

    def loss_fn(params, batch, key):
        images = mnist.pixels(batch["image"])
        if binarize:
            key, draw = jax.random.split(key)
            images = jax.random.bernoulli(draw, images).astype(images.dtype)
        return completer.loss_fn(params, images, key)

    chunk = jax.jit(completer.complete, static_argnames=("how", "temperature"))
    log_probs = jax.jit(completer.pixel_log_probs) if completer.made else None

    def complete(params, images, key=None, how="mean", t=1.0) -> np.ndarray:
        def draw(top, k):
            return chunk(params, mnist.pixels(top), k, how=how, temperature=t)

        return batching.in_keyed_chunks(draw, images[:, :GIVEN], 1000, key)

    def nll(params, images) -> np.ndarray:
        return -batching.in_chunks(lambda x: log_probs(params, mnist.pixels(x)), images, 1000)

    return loss_fn, complete, nll


def make_task(config: Config, options: Options) -> task.Task:
    """Training on the top and bottom halves; validation and test by whole completions."""
    completer = build_completer(config)
    bernoulli = completer.made is not None
    loss_fn, complete, nll_of = make_fns(completer, config.binarize)
    data = config.digits(options.data_dir, config.train.val_size)
    if config.binarize:  # validation and test digits drawn once, by the seed
        for i, split in enumerate(("val", "test")):
            data[split]["image"] = mnist.binarize(data[split]["image"], config.seed * 7 + i)
    val = data["val"]["image"][:1000]

    def report(params, run_dir: Path) -> task.Report:
        test, labels = data["test"]["image"], data["test"]["label"]
        completions = {"model": complete(params, test)}
        if bernoulli:
            key = jax.random.PRNGKey(config.seed + 1)
            drawn = complete(params, test, key, "sample", options.temperature)
            completions = {"model (mean)": completions["model"], "model (sampled)": drawn}
        train_images, real = mnist.pixels(data["train"]["image"]), mnist.pixels(test)
        table = {n: completion.bottom_mse(done, real, GIVEN) for n, done in completions.items()}
        guesses = completion_baselines(train_images, real, GIVEN)
        guessed_mse, guessed_nats = completion.baseline_scores(guesses, real, GIVEN)
        table.update(guessed_mse)
        sharp = {"real images": completion.sharp_share(real, GIVEN)}
        sharp.update({n: completion.sharp_share(done, GIVEN) for n, done in completions.items()})
        results = {"test_bottom_mse": table, "test_bottom_sharp": sharp, "n_test": len(test)}
        lines = [f"\nper-pixel MSE of the generated bottom half, {len(test)} test images:"]
        lines += [f"  {name:<40} {value:.4f}" for name, value in table.items()]
        lines += ["share of the bottom half's pixels within 0.1 of 0 or 1 (sharpness):"]
        lines += [f"  {name:<40} {value:.4f}" for name, value in sharp.items()]
        if bernoulli:
            nats, more = completion.nats_report(nll_of(params, test), guessed_nats, GIVEN)
            results.update(nats)
            lines += more
        if options.classifier:
            classify = experiments.trained("mnist_classifier", options.classifier).predict
            accuracy = {"real images": float(np.mean(classify(test) == labels))}
            if bernoulli:  # the tops the classifier is least sure of: how samples split
                top_probs = classify(np.where(np.arange(ROWS)[:, None] < GIVEN, test, 0), True)
                key = jax.random.PRNGKey(config.seed + 2)
                draw = lambda x: complete(params, x, key, "sample", options.temperature)  # noqa: E731
                splits, grid = completion.ambiguous_splits(top_probs, draw, classify, test, labels)
                results["ambiguous_tops"] = splits
                mean, path = completions["model (mean)"], run_dir / "figures" / "ambiguous.png"
                completion.plot_ambiguous(splits, grid, mean, classify, path)
            for name, done in completions.items():
                what = "generated bottom" if name == "model" else name
                accuracy[f"real top + {what}"] = float(np.mean(classify(done) == labels))
            results["classifier_accuracy"] = accuracy
            lines += [f"  classifier accuracy, {k:<27} {v:.4f}" for k, v in accuracy.items()]
        pick = [int(np.flatnonzero(labels == c)[0]) for c in range(10) if np.any(labels == c)]
        for name, done in completions.items():
            figure = plotting.plot_completions(
                mnist.pixels(test[pick]), GIVEN, done[pick], labels[pick],
                run_dir / "figures" / ("samples.png" if "sampled" in name else "completions.png"),
            )  # fmt: skip
        results["figure"] = str(figure)
        best = (
            {"nll": nats["test_bottom_nll"]["model"]} if bernoulli else {"gen_mse": table["model"]}
        )
        return task.Report(results, best, "\n".join([*lines, f"figures in {figure.parent}"]))

    def evaluate(params):
        if bernoulli:
            return {"nll": float(nll_of(params, val)[:, GIVEN:].sum((1, 2)).mean())}
        return {"gen_mse": completion.bottom_mse(complete(params, val), mnist.pixels(val), GIVEN)}

    return task.Task(
        experiment=NAME,
        config=config,
        init=completer.init,
        loss_fn=loss_fn,
        train_data={"image": data["train"]["image"]},
        batch_size=config.train.batch_size,
        schedule=task.Schedule(config.train.steps, config.train.eval_every, log_every=100),
        evaluate=evaluate,
        best="nll" if bernoulli else "gen_mse",
        mode="min",
        report=report,
        curves=("loss", "nll" if bernoulli else "gen_mse"),
    )


def predict(
    trained: TrainedModel, top: np.ndarray, how: str = "mean", seed: int = 0, temperature=1.0
) -> np.ndarray:
    """The images whose top halves are ``top [N, 14, 28]`` (in [0, 1], or uint8), completed
    row by row: ``[N, 28, 28]`` in [0, 1]; a ``bernoulli`` model draws them ``how``:
    ``mean``, ``mode``, or ``sample`` (by ``seed`` and ``temperature``)."""
    top = expect(top, (None, GIVEN, ROWS), "top halves")
    key = jax.random.PRNGKey(seed) if how == "sample" else None
    return make_fns(trained.model)[1](trained.params, top, key, how, temperature)


def sample(trained: TrainedModel, top: np.ndarray, n: int = 1, temperature=1.0, seed: int = 0):
    """``n`` completions of each top half ``[N, 14, 28]`` drawn by a ``bernoulli`` model
    (:func:`predict`'s ``sample``): ``[N, n, 28, 28]``."""
    top = expect(top, (None, GIVEN, ROWS), "top halves")
    drawn = predict(_distribution(trained), np.repeat(top, n, 0), "sample", seed, temperature)
    return drawn.reshape(len(top), n, ROWS, ROWS)


def log_prob(trained: TrainedModel, images: np.ndarray, given="top") -> np.ndarray:
    """``log p(pixels not given | given)`` in nats per image of ``images [N, 28, 28]``, by a
    ``bernoulli`` model. It reads pixels in raster order, so ``given`` (``top``: the top 14
    rows; ``None``: nothing, the whole image's likelihood; or booleans ``[28, 28]`` /
    ``[N, 28, 28]``) must come before every pixel not given (any mask: mnist_inpaint)."""
    images = expect(images, (None, ROWS, ROWS), "images")
    given = masks.per_image(given, images.shape)
    flat = given.reshape(len(images), -1)
    if np.any(flat[:, 1:] > flat[:, :-1]):
        raise ValueError(
            "mnist_gen reads pixels in raster order: every given pixel must come before every "
            "hidden one (e.g. the top rows); for any other mask use experiments.mnist_inpaint"
        )
    nll = make_fns(_distribution(trained).model)[2](trained.params, images)
    return -np.sum(nll * ~given, axis=(1, 2))


def _distribution(trained: TrainedModel) -> TrainedModel:
    if trained.model.made is None:
        raise ValueError(
            f"this mnist_gen model regresses rows ({trained.config.model.output}): it has no "
            "distribution; train one with --model.output bernoulli, or use "
            "experiments.pretrained('mnist_gen', 'bernoulli')"
        )
    return trained


EXPERIMENT = Experiment(
    name=NAME,
    config=Config,
    make_task=make_task,
    build=build_completer,
    predict=predict,
    sample=sample,
    log_prob=log_prob,
    options=Options,
    preflight=experiments.check_classifier,
)

if __name__ == "__main__":
    EXPERIMENT.main()
