"""Draw the hidden quadrants of an MNIST digit given the others, with an exact likelihood:
Pyro's CVAE tutorial protocol, in nats.

    python -m experiments.mnist_inpaint --data-dir DIR             # train + evaluate
    python -m experiments.mnist_inpaint --masks q2                 # one protocol only
    python -m experiments.mnist_inpaint --from RUN_DIR --generate  # reuse a trained run
    python -m experiments.mnist_inpaint --help

Pyro's ``examples/cvae`` always gives the bottom-left quadrant (``q1``), or the left half
(``q2``), or all but the bottom-right (``q3``), and scores the summed binary cross-entropy
of the hidden pixels (grayscale targets) on the MNIST test set. One model
(:class:`rnn_jax.models.inpainter.Inpainter`: a bidirectional LSTM encoder over the masked
rows, a row LSTM decoder, a masked autoregressive head per row) learns all the ``--masks``
at once, a mask drawn per training image, and is scored on each beside Pyro's published
figures and a 10-nearest-neighbours baseline.
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

import experiments
from rnn_jax import plotting
from rnn_jax.data import masks, mnist
from rnn_jax.data.masks import MASKS
from rnn_jax.evaluation.baselines import bernoulli_nats, masked_neighbours
from rnn_jax.models.inpainter import Inpainter
from rnn_jax.models.made import RowMADE
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.training import batching, checks, experiment, task
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "mnist_inpaint"
SIDE = 28
PYRO = {  # Pyro's examples/cvae README: test loss in nats, by quadrants given
    "q1": {"Pyro baseline network": 100.4, "Pyro CVAE": 71.8},
    "q2": {"Pyro baseline network": 61.9, "Pyro CVAE": 51.0},
    "q3": {"Pyro baseline network": 25.4, "Pyro CVAE": 24.2},
}


@dataclass(frozen=True)
class ModelConfig:
    cell: task.CellName = "lstm"
    encoder: Annotated[int, checks.count] = 128
    """Hidden units of each direction of the encoder over the masked rows."""
    hidden: Annotated[tuple[int, ...], checks.count] = (256,)
    """Hidden units of each recurrent layer of the row decoder."""
    head: Annotated[tuple[int, ...], checks.count] = (256,)
    """Hidden widths of the relu MLP between the decoder and a row's context."""
    context: Annotated[int, checks.count] = 128
    """Width of a row distribution's context (besides the row's given pixels and mask)."""
    made_hidden: Annotated[int, checks.count] = 512
    """Masked hidden units of a row's distribution."""


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    steps: Annotated[int, checks.count] = 8000
    """Optimizer steps."""
    batch_size: Annotated[int, checks.count] = 64
    """Images per step (each with one of the --masks)."""
    lr: float = 2e-3
    """Peak learning rate of Adam."""
    eval_every: Annotated[int, checks.count] = 1000
    """Steps between validation scores (checkpoint points)."""
    val_size: Annotated[int, checks.count] = 5000
    """Training images held out (fixed by the seed); the first 1000 choose the checkpoint."""


@dataclass(frozen=True)
class Config(task.MnistConfig):
    """Train one model that draws the hidden pixels of MNIST digits for each of the masks."""

    masks: Annotated[tuple[str, ...], checks.one_of(*MASKS)] = ("q1", "q2", "q3")
    """Which pixels are given (trained on all, one drawn per image; scored on each): q1,
    q2, q3 = Pyro's 1, 2, 3 quadrants given; top = the top half (mnist_gen's)."""
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


@dataclass(frozen=True)
class Options(experiment.ReportOptions):
    classifier: str | None = None
    """A mnist_classifier run directory, or 'pretrained': also report its accuracy on the
    sampled completions."""


def build(config: Config) -> Inpainter:
    m = config.model
    width = 2 * m.encoder + SIDE  # the row above and this row's encoding
    decoder = SequenceModel(width, m.context, cell=m.cell, hidden=m.hidden, head=m.head)
    return Inpainter(decoder, RowMADE(SIDE, m.context + 2 * SIDE, m.made_hidden), m.encoder)


@functools.cache
def make_fns(model: Inpainter):
    """``nats(params, images, given)``: ``-log p(hidden | given)`` per image ``[N]``; and
    ``draw(params, images, given, key, how, t)``: the images with their hidden pixels drawn
    (uint8 or [0, 1] images; ``given`` ``[H, W]`` or one per image), in chunks of 1000."""
    log_prob = jax.jit(model.log_prob)
    sample = jax.jit(model.sample, static_argnames=("how", "temperature"))

    def nats(params, images, given) -> np.ndarray:
        def chunk(part):
            return -log_prob(params, mnist.pixels(part[0]), part[1])

        return batching.in_chunks(chunk, (images, masks.per_image(given, images.shape)), 1000)

    def draw(params, images, given, key=None, how="sample", t=1.0) -> np.ndarray:
        def chunk(part, k):
            return sample(params, mnist.pixels(part[0]), part[1], k, how=how, temperature=t)

        inputs = (images, masks.per_image(given, images.shape))
        return batching.in_keyed_chunks(chunk, inputs, 1000, key)

    return nats, draw


def make_task(config: Config, options: Options) -> task.Task:
    """Training on every mask at once; validation and test per mask, in nats."""
    model = build(config)
    nats, draw = make_fns(model)
    table = jnp.asarray(masks.stacked(config.masks))
    data = config.digits(options.data_dir, config.train.val_size)
    val = data["val"]["image"][:1000]

    def loss_fn(params, batch, key):
        pick = jax.random.randint(key, (len(batch["image"]),), 0, len(table))
        return model.loss_fn(params, mnist.pixels(batch["image"]), table[pick]), {}

    def evaluate(params):
        scores = {f"nll_{m}": float(nats(params, val, masks.named(m)).mean()) for m in config.masks}
        return {"nll": float(np.mean(list(scores.values()))), **scores}

    def report(params, run_dir: Path) -> task.Report:
        test, labels = data["test"]["image"], data["test"]["label"]
        train, real = mnist.pixels(data["train"]["image"]), mnist.pixels(test)
        classify = options.classifier and experiments.trained(
            "mnist_classifier", options.classifier
        )
        results, lines = {"n_test": len(test), "nats": {}}, []
        lines.append(f"\nnats of the hidden pixels given the rest, {len(test)} test images:")
        pick = [int(np.flatnonzero(labels == c)[0]) for c in range(10) if np.any(labels == c)]
        for i, name in enumerate(config.masks):
            given = masks.named(name)
            neighbours = masked_neighbours(train, real, given)
            scores = {
                "model": float(nats(params, test, given).mean()),
                "mean of 10 nearest (on the given pixels)": float(
                    bernoulli_nats(neighbours[:, ~given], real[:, ~given]).mean()
                ),
                **PYRO.get(name, {}),
            }
            results["nats"][name] = scores
            lines.append(f"  {name} ({int(given.sum())} pixels given)")
            lines += [f"    {k:<42} {v:.2f}" for k, v in scores.items()]
            key = jax.random.PRNGKey(config.seed + i)
            if classify:
                drawn = draw(params, test, given, key)
                accuracy = float(np.mean(classify.predict(drawn) == labels))
                results.setdefault("classifier_accuracy", {})[name] = accuracy
                lines.append(f"    classifier accuracy on sampled completions  {accuracy:.4f}")
            shown = np.repeat(test[pick], 4, axis=0)  # 4 samples of each, then the mean
            samples = draw(params, shown, given, key).reshape(len(pick), 4, SIDE, SIDE)
            mean = draw(params, test[pick], given, how="mean")[:, None]
            masked = np.where(given, real[pick], 0.5)[:, None]  # hidden pixels gray
            grid = np.concatenate([masked, samples, mean, real[pick][:, None]], axis=1)
            titles = ["given", "sample", "sample", "sample", "sample", "mean", "real"]
            figure = plotting.plot_images(
                grid.reshape(-1, SIDE, SIDE), titles * len(pick),
                run_dir / "figures" / f"inpainting_{name}.png", cols=len(titles),
            )  # fmt: skip
        results["figures"] = str(figure.parent)
        best = {"nll": float(np.mean([results["nats"][m]["model"] for m in config.masks]))}
        return task.Report(results, best, "\n".join([*lines, f"figures in {figure.parent}"]))

    return task.Task(
        experiment=NAME,
        config=config,
        init=model.init,
        loss_fn=loss_fn,
        train_data={"image": data["train"]["image"]},
        batch_size=config.train.batch_size,
        schedule=task.Schedule(config.train.steps, config.train.eval_every, log_every=100),
        evaluate=evaluate,
        best="nll",
        mode="min",
        report=report,
        curves=("loss", "nll"),
    )


def _check(images, given) -> tuple[np.ndarray, np.ndarray]:
    images = expect(images, (None, SIDE, SIDE), "images")
    return images, masks.per_image(given, images.shape)


def predict(
    trained: TrainedModel, images, given="q2", how: str = "sample", seed: int = 0, temperature=1.0
) -> np.ndarray:
    """``images [N, 28, 28]`` (uint8 or [0, 1]) with the pixels not ``given`` drawn, in
    [0, 1]: ``given`` is a mask name (``q1``, ``q2``, ``q3``, ``top``) or booleans ``[28, 28]``
    or ``[N, 28, 28]``; ``how``: ``sample`` (by ``seed`` and ``temperature``), ``mean`` or
    ``mode``."""
    images, given = _check(images, given)
    key = jax.random.PRNGKey(seed) if how == "sample" else None
    return make_fns(trained.model)[1](trained.params, images, given, key, how, temperature)


def sample(
    trained: TrainedModel, images, given="q2", n: int = 1, temperature=1.0, seed: int = 0
) -> np.ndarray:
    """``n`` completions of each of ``images`` (as :func:`predict`): ``[N, n, 28, 28]``."""
    images, given = _check(images, given)
    given = np.repeat(given, n, axis=0)
    drawn = predict(trained, np.repeat(images, n, axis=0), given, "sample", seed, temperature)
    return drawn.reshape(len(images), n, SIDE, SIDE)


def log_prob(trained: TrainedModel, images, given="q2") -> np.ndarray:
    """``log p(pixels not given | given)`` in nats per image ``[N]`` (as :func:`predict`)."""
    images, given = _check(images, given)
    return -make_fns(trained.model)[0](trained.params, images, given)


EXPERIMENT = Experiment(
    name=NAME,
    config=Config,
    make_task=make_task,
    build=build,
    predict=predict,
    sample=sample,
    log_prob=log_prob,
    options=Options,
    preflight=experiments.check_classifier,
)

if __name__ == "__main__":
    EXPERIMENT.main()
