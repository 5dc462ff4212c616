"""Read strings of handwritten digits: CNN -> bidirectional LSTM -> CTC (CRNN, Shi et al. 2015).

    python -m experiments.crnn --data-dir DIR        # offline: the 4 MNIST files
    python -m experiments.crnn --generate --from runs/crnn/default   # report a trained run
    python -m experiments.crnn --help

Strings of 1-8 real MNIST digits are composed on a 32 x 224 canvas with random
spacing and heights (:func:`rnn_jax.data.scenes.digit_strings`): training and
validation strings from the training split's digits (validation from a held-out
part), test strings from the test split, all fixed by the seed. A bidirectional
LSTM reads the conv encoder's feature map column by column; CTC scores its
per-column outputs (no per-column targets, no segmentation). The test report gives
sequence accuracy and character error rate by string length, greedy and beam CTC
decoding, against segment-then-classify baselines (a digit classifier on each digit
cropped at its true position).
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
from rnn_jax.data import mnist, scenes
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import baselines
from rnn_jax.evaluation import text_metrics as tm
from rnn_jax.models.crnn import CRNN
from rnn_jax.nn import ctc
from rnn_jax.training import checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "crnn"
BLANK = 10  # CTC's blank after the ten digits
READERS = {  # the test report's readers (the first three drawn by length), and their labels
    "greedy": "CRNN + CTC, greedy",
    "segment_then_classify": "classify crops at the true positions",
    "classify_digits_alone": "classify each digit alone",
    "beam8": "CRNN + CTC, beam 8",
    "greedy_on_beam_strings": "CRNN + CTC, greedy, same strings",
}


@dataclass(frozen=True)
class DataConfig:
    train_strings: Annotated[int, checks.count] = 40_000
    """Training strings (from the training split's digits, less the validation digits)."""
    val_strings: Annotated[int, checks.count] = 2_000
    """Validation strings, from held-out training digits."""
    test_strings: Annotated[int, checks.count] = 10_000
    """Test strings, from the test split's digits."""
    digits: tuple[int, int] = (1, 8)
    """Fewest and most digits per string."""
    height: Annotated[int, checks.count] = 32
    """Canvas height (digits are 28 px, placed at random heights)."""
    width: Annotated[int, checks.count] = 224
    """Canvas width (8 digits at the widest spacing fit)."""
    spacing: tuple[int, int] = (16, 26)
    """Range of the distance (px) from one digit's left edge to the next one's."""
    val_digits: Annotated[int, checks.count] = 5_000
    """Training digits held out for the validation strings."""


@dataclass(frozen=True)
class ModelConfig:
    channels: Annotated[tuple[int, ...], checks.count] = (16, 32, 64)
    """Channels of the conv layers (3x3, ReLU, max pool 2x2, 2x2, then 2x1)."""
    hidden: Annotated[int, checks.count] = 128
    """LSTM units per direction."""


@dataclass(frozen=True)
class TrainConfig(task.EpochTrainConfig):
    epochs: int = 2
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 200


@dataclass(frozen=True)
class Config(task.MnistConfig):
    """Train a CRNN that reads strings of MNIST digits, scored by CTC."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


@dataclass(frozen=True)
class Options(experiment.ReportOptions):
    classifier: str = "pretrained"
    """The segment-then-classify baseline's digit classifier: 'pretrained' (the shipped
    mnist_classifier) or a mnist_classifier run directory."""
    beam_strings: Annotated[int, checks.non_negative] = 2_000
    """Test strings also decoded by CTC beam search (width 8; it runs on the host)."""


def build_reader(config: Config) -> CRNN:
    if len(config.model.channels) != 3:
        raise ConfigError(
            f"--model.channels needs three conv layers' channels, got {config.model.channels}"
        )
    return CRNN(tuple(config.model.channels), config.model.hidden, config.data.height, BLANK + 1)


def make_strings(config: Config, data_dir: str | None) -> tuple[dict, dict]:
    """Train, validation and test strings, and the digit pools (MNIST splits) they were
    drawn from: each split's strings from its own pool."""
    d = config.data
    splits = config.digits(data_dir, d.val_digits)
    shape = dict(digits=d.digits, height=d.height, width=d.width, spacing=d.spacing)
    counts = {"train": d.train_strings, "val": d.val_strings, "test": d.test_strings}
    strings = functools.partial(scenes.digit_strings, **shape)
    return scenes.per_split(strings, splits, counts, config.seed), splits


@functools.cache
def make_fns(reader: CRNN):
    """The CTC loss, the validation sums (greedy decoding inside jit) and ``decode(params,
    images, beam=0)``: the digit strings read from ``uint8 images [N, H, W]``, by greedy CTC
    decoding or prefix beam search of width ``beam``."""

    def loss_fn(params, batch, key):
        logits = reader.logits(params, mnist.pixels(batch["image"]))
        return ctc.mean_loss(logits, batch["label"], batch["length"], blank=BLANK), {}

    def eval_sums(params, batch):
        logits = reader.logits(params, mnist.pixels(batch["image"]))
        same = ctc.exact(logits, batch["label"], batch["length"], blank=BLANK)
        w = batch["weight"]
        return {"seq_accuracy": jnp.sum(w * same.astype(jnp.float32)), "count": jnp.sum(w)}

    logits = jax.jit(lambda p, x: reader.logits(p, mnist.pixels(x)))

    def decode(params, images: np.ndarray, beam: int = 0) -> list[list[int]]:
        chunks = (images[i : i + 500] for i in range(0, len(images), 500))
        return [row for x in chunks for row in ctc.decode(logits(params, x), beam, BLANK)]

    return loss_fn, eval_sums, decode


def scores_by_length(hyps, strings: scenes.Strings) -> dict:
    """Sequence accuracy and character error rate, overall, on 1-5 digits and per length."""
    refs = [row[:n].tolist() for row, n in zip(strings.labels, strings.lengths)][: len(hyps)]
    by = lambda groups: tm.grouped(tm.sequence_scores, hyps, refs, groups)  # noqa: E731
    return {
        "all": tm.sequence_scores(hyps, refs),
        "1-5 digits": by(strings.lengths <= 5)[1],
        "by_length": by(strings.lengths),
    }


def make_task(config: Config, options: Options) -> task.Task:
    """The reader's training run: strings, model, CTC loss, validation, test report."""
    strings, pools = make_strings(config, options.data_dir)
    reader = build_reader(config)
    loss_fn, eval_sums, decode = make_fns(reader)
    arrays = {
        k: {"image": s.images, "label": s.labels, "length": s.lengths} for k, s in strings.items()
    }

    def report(params, run_dir: Path) -> task.Report:
        test = strings["test"]
        greedy = decode(params, test.images)
        n_beam = min(options.beam_strings, len(test.images))
        beam = decode(params, test.images[:n_beam], beam=8) if n_beam else []
        classify = experiments.trained("mnist_classifier", options.classifier).predict
        baseline = baselines.classify_segments(classify, test, pools["test"]["image"])
        reads = dict(zip(READERS, (greedy, baseline["crop"], baseline["alone"])))
        if beam:
            reads.update(beam8=beam, greedy_on_beam_strings=greedy[:n_beam])
        results = {key: scores_by_length(hyps, test) for key, hyps in reads.items()}
        figures = run_dir / "figures"
        lengths = sorted(results["greedy"]["by_length"])
        curves = {
            READERS[key]: [results[key]["by_length"][n]["seq_accuracy"] for n in lengths]
            for key in list(READERS)[:3]
        }
        plotting.plot_line(
            lengths,
            curves,
            figures / "accuracy_by_length.png",
            xlabel="digits in the string",
            ylabel="sequence accuracy",
            title="Test strings read whole",
        )
        said = ["".join(map(str, h)) for h in greedy[:12]]
        true = ["".join(map(str, row[:n])) for row, n in zip(test.labels, test.lengths)]
        titles = [h if h == t else f"{h} (true {t})" for h, t in zip(said, true)]
        plotting.plot_images(test.images[:12], titles, figures / "test_strings.png", cols=2)
        return task.Report(
            results,
            {"seq_accuracy": results["greedy"]["all"]["seq_accuracy"]},
            summary(results, figures),
        )

    return task.Task(
        experiment=NAME,
        config=config,
        init=reader.init,
        loss_fn=loss_fn,
        train_data=arrays["train"],
        batch_size=config.train.batch_size,
        schedule=task.by_epochs(config.train, len(strings["train"].images), evals=4, logs=20),
        evaluate=train.Validation(eval_sums, arrays["val"], 500),
        best="seq_accuracy",
        mode="max",
        report=report,
        curves=("loss", "seq_accuracy"),
    )


def summary(results: dict, figures: Path) -> str:
    lines = [f"\n{'test strings':<38}{'n':>7}{'seq acc':>9}{'CER':>8}{'seq acc 1-5':>13}"]
    for key, r in results.items():
        lines.append(
            f"{READERS[key]:<38}{r['all']['n']:>7}{r['all']['seq_accuracy']:>9.4f}"
            f"{r['all']['cer']:>8.4f}{r['1-5 digits']['seq_accuracy']:>13.4f}"
        )
    by = results["greedy"]["by_length"]
    lines.append("greedy by length: " + ", ".join(f"{n}: {by[n]['seq_accuracy']:.3f}" for n in by))
    return "\n".join([*lines, f"figures in {figures}"])


def predict(trained: TrainedModel, images: np.ndarray, beam: int = 0) -> list[list[int]]:
    """The digits of each string image ``uint8 [N, H, W]``: greedy CTC decoding, or prefix
    beam search of width ``beam``."""
    d = trained.config.data
    images = expect(images, (None, d.height, d.width), "images")
    return make_fns(trained.model)[2](trained.params, images, beam)


EXPERIMENT = Experiment(
    name=NAME,
    config=Config,
    make_task=make_task,
    build=build_reader,
    predict=predict,
    options=Options,
    preflight=experiments.check_classifier,
)

if __name__ == "__main__":
    EXPERIMENT.main()
