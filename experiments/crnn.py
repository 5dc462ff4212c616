"""Read strings of handwritten digits: CNN -> bidirectional LSTM -> CTC (CRNN, Shi et al. 2015).

    python -m experiments.crnn --data-dir DIR        # offline: the 4 MNIST files
    python -m experiments.crnn --generate --from runs/crnn/default   # report a trained run
    python -m experiments.crnn --help

Strings of 1-8 real MNIST digits are composed on a 32 x 224 canvas with random
spacing and heights (:func:`rnn_jax.data.scenes.digit_strings`): training and
validation strings from the training split's digits (validation from a held-out
part), test strings from the test split, all fixed by the seed. The conv
encoder's feature map is read column by column by a bidirectional LSTM whose
per-column outputs are scored by CTC (no per-column targets, no segmentation).
The test report gives sequence accuracy and character error rate by string
length, greedy and beam CTC decoding, against a segment-then-classify baseline:
the shipped row-by-row classifier on each digit cropped at its true position.
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import plotting, pretrained
from rnn_jax.data import mnist, scenes
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import text_metrics as tm
from rnn_jax.nn import ctc, dense
from rnn_jax.nn.conv import ConvEncoder
from rnn_jax.recurrent import cells, stack
from rnn_jax.training import checks, experiment, task, train
from rnn_jax.training.definition import Experiment

NAME = "crnn"
BLANK = 10  # CTC's blank after the ten digits


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
class TrainConfig(task.TrainConfig):
    epochs: Annotated[int, checks.count] = 2
    """Passes over the training strings."""
    batch_size: Annotated[int, checks.count] = 32
    """Strings per step."""
    lr: float = 2e-3
    """Peak learning rate of Adam."""
    warmup_steps: Annotated[int, checks.non_negative] = 200
    """Warm-up steps of the cosine schedule."""


@dataclass(frozen=True)
class Config:
    """Train a CRNN that reads strings of MNIST digits, scored by CTC."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    seed: int = 0
    """Seed for the strings, the validation digits, initialisation and shuffling."""
    synthetic: Annotated[int, checks.non_negative] = 0
    """Use N synthetic digit images instead of MNIST (smoke tests)."""


@dataclass(frozen=True)
class Options(experiment.ReportOptions):
    classifier: str = "pretrained"
    """The segment-then-classify baseline's digit classifier: 'pretrained' (the shipped
    mnist_classifier) or a mnist_classifier run directory."""
    beam_strings: Annotated[int, checks.non_negative] = 2_000
    """Test strings also decoded by CTC beam search (width 8; it runs on the host)."""


@dataclass(frozen=True)
class Reader:
    """The CRNN: conv encoder, bidirectional LSTM over the map's columns, linear to the
    ten digits and the blank."""

    channels: tuple[int, ...]
    hidden: int
    height: int

    @property
    def encoder(self) -> ConvEncoder:
        return ConvEncoder(self.channels, ((2, 2), (2, 2), (2, 1))[: len(self.channels)])

    def init(self, key):
        kc, kr, ko = jax.random.split(key, 3)
        h, _, c = self.encoder.out_shape(self.height, 8)
        lstm = cells.get_cell("lstm")
        return {
            "conv": self.encoder.init(kc),
            "rnn": stack.bidirectional_init(kr, lstm, h * c, self.hidden),
            "out": dense.linear_init(ko, 2 * self.hidden, BLANK + 1),
        }

    def logits(self, params, images: jax.Array) -> jax.Array:
        """``uint8 images [B, H, W]`` -> per-column logits ``[B, W', 11]``."""
        fmap = self.encoder.apply(params["conv"], mnist.pixels(images)[..., None])
        b, h, w, c = fmap.shape
        columns = jnp.transpose(fmap, (0, 2, 1, 3)).reshape(b, w, h * c)
        _, ys = stack.bidirectional_apply(cells.get_cell("lstm"), params["rnn"], columns)
        return dense.linear_apply(params["out"], ys)


def build_reader(config: Config) -> Reader:
    if len(config.model.channels) != 3:
        raise ConfigError(
            f"--model.channels needs three conv layers' channels, got {config.model.channels}"
        )
    return Reader(tuple(config.model.channels), config.model.hidden, config.data.height)


def make_strings(config: Config, data_dir: str | None) -> tuple[dict, dict]:
    """Train, validation and test strings, and the digit pools (MNIST splits) they were
    drawn from: each split's strings from its own pool."""
    d = config.data
    if d.val_strings < 1 or d.train_strings < 1 or d.test_strings < 1:
        raise ConfigError(
            "--data.train-strings, --data.val-strings and --data.test-strings must be positive"
        )
    splits = mnist.splits(
        data_dir,
        val_size=d.val_digits,
        seed=config.seed,
        synthetic_size=config.synthetic,
    )
    make = functools.partial(
        scenes.digit_strings, digits=d.digits, height=d.height, width=d.width, spacing=d.spacing
    )
    counts = {"train": d.train_strings, "val": d.val_strings, "test": d.test_strings}
    return scenes.per_split(make, splits, counts, config.seed), splits


def as_arrays(strings: scenes.Strings) -> dict[str, np.ndarray]:
    return {"image": strings.images, "label": strings.labels, "length": strings.lengths}


@functools.cache
def make_fns(reader: Reader):
    """The CTC loss, the validation sums (greedy decoding inside jit) and jitted logits."""

    def loss_fn(params, batch, key):
        logits = reader.logits(params, batch["image"])
        frames = jnp.full((logits.shape[0],), logits.shape[1])
        labels = jnp.maximum(batch["label"], 0)
        nll = ctc.loss(logits, frames, labels, batch["length"], blank=BLANK)
        return jnp.mean(nll / batch["length"].astype(nll.dtype)), {}

    def eval_sums(params, batch):
        logits = reader.logits(params, batch["image"])
        decoded, counts = ctc.best_path(logits, blank=BLANK)
        width = batch["label"].shape[1]
        same = jnp.all(decoded[:, :width] == batch["label"], axis=1) & (counts == batch["length"])
        w = batch["weight"]
        return {"seq_accuracy": jnp.sum(w * same.astype(jnp.float32)), "count": jnp.sum(w)}

    return loss_fn, eval_sums, jax.jit(reader.logits)


def decode(reader: Reader, params, images: np.ndarray, beam: int = 0) -> list[list[int]]:
    """Digit strings read from ``images [N, H, W]``: greedy CTC decoding, or prefix beam
    search of width ``beam``."""
    _, _, logits_fn = make_fns(reader)
    out = []
    for i in range(0, len(images), 500):
        logits = logits_fn(params, images[i : i + 500])
        if beam:
            logp = np.asarray(jax.nn.log_softmax(logits, axis=-1))
            out += [ctc.beam_decode(lp, beam, blank=BLANK) for lp in logp]
        else:
            out += ctc.greedy_decode(logits, blank=BLANK)
    return out


def scores_by_length(hyps, strings: scenes.Strings) -> dict:
    """Sequence accuracy and character error rate, overall, on 1-5 digits and per length."""
    refs = [row[:n].tolist() for row, n in zip(strings.labels, strings.lengths)]
    lengths = strings.lengths[: len(hyps)]
    refs = refs[: len(hyps)]

    def score(pick):
        h = [x for x, p in zip(hyps, pick) if p]
        r = [x for x, p in zip(refs, pick) if p]
        return {"n": len(r), "seq_accuracy": tm.exact_match(h, r), "cer": tm.error_rate(h, r)}

    out = {"all": score(np.ones(len(refs), bool)), "1-5 digits": score(lengths <= 5)}
    out["by_length"] = {int(n): score(lengths == n) for n in np.unique(lengths)}
    return out


def segment_then_classify(
    strings: scenes.Strings, pool: np.ndarray, source: str
) -> dict[str, list[list[int]]]:
    """Each digit classified by a digit classifier, as a pipeline that segments first would,
    given a perfect segmentation: the 28 x 28 crop at the digit's true position (its
    neighbours' strokes included), and the digit alone (its own image from the pool, as if
    segmentation also undid the overlaps)."""
    classify = pretrained.digit_classifier(source)
    crops, _ = scenes.crops(strings)
    alone = pool[strings.sources[strings.labels >= 0]]
    out = {}
    for name, images in (("crop", crops), ("alone", alone)):
        pred, start, rows = classify(images), 0, []
        for n in strings.lengths:
            rows.append(pred[start : start + n].tolist())
            start += n
        out[name] = rows
    return out


def make_task(config: Config, options: Options) -> task.Task:
    """The reader's training run: strings, model, CTC loss, validation, test report."""
    strings, pools = make_strings(config, options.data_dir)
    reader = build_reader(config)
    loss_fn, eval_sums, _ = make_fns(reader)
    per_epoch = config.data.train_strings // max(config.train.batch_size, 1)

    def report(params, run_dir: Path) -> task.Report:
        test = strings["test"]
        greedy = decode(reader, params, test.images)
        n_beam = min(options.beam_strings, len(test.images))
        beam = decode(reader, params, test.images[:n_beam], beam=8) if n_beam else []
        baseline = segment_then_classify(test, pools["test"]["image"], options.classifier)
        results = {
            "greedy": scores_by_length(greedy, test),
            "segment_then_classify": scores_by_length(baseline["crop"], test),
            "classify_digits_alone": scores_by_length(baseline["alone"], test),
        }
        if beam:
            results["beam8"] = scores_by_length(beam, test)
            results["greedy_on_beam_strings"] = scores_by_length(greedy[:n_beam], test)
        figures = run_dir / "figures"
        lengths = sorted(results["greedy"]["by_length"])
        plotting.plot_line(
            lengths,
            {
                name: [results[key]["by_length"][n]["seq_accuracy"] for n in lengths]
                for name, key in (
                    ("CRNN + CTC (greedy)", "greedy"),
                    ("classify crops at the true positions", "segment_then_classify"),
                    ("classify each digit alone", "classify_digits_alone"),
                )
            },
            figures / "accuracy_by_length.png",
            xlabel="digits in the string",
            ylabel="sequence accuracy",
            title="Test strings read whole",
        )
        titles = []
        for h, row, n in zip(greedy[:12], test.labels, test.lengths):
            said, true = "".join(map(str, h)), "".join(map(str, row[:n]))
            titles.append(said if said == true else f"{said} (true {true})")
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
        train_data=as_arrays(strings["train"]),
        batch_size=config.train.batch_size,
        steps=per_epoch * config.train.epochs,
        evaluate=train.Validation(eval_sums, as_arrays(strings["val"]), 500),
        eval_every=max(per_epoch // 4, 1),
        best="seq_accuracy",
        mode="max",
        report=report,
        curves=("loss", "seq_accuracy"),
        log_every=max(per_epoch // 20, 1),
    )


def summary(results: dict, figures: Path) -> str:
    rows = [
        ("CRNN + CTC, greedy", "greedy"),
        ("segment then classify", "segment_then_classify"),
        ("  each digit alone", "classify_digits_alone"),
    ]
    if "beam8" in results:
        rows += [
            ("CRNN + CTC, beam 8", "beam8"),
            ("  greedy, same strings", "greedy_on_beam_strings"),
        ]
    lines = [f"\n{'test strings':<28}{'n':>7}{'seq acc':>9}{'CER':>8}{'seq acc 1-5':>13}"]
    for name, key in rows:
        r = results[key]
        lines.append(
            f"{name:<28}{r['all']['n']:>7}{r['all']['seq_accuracy']:>9.4f}{r['all']['cer']:>8.4f}"
            f"{r['1-5 digits']['seq_accuracy']:>13.4f}"
        )
    by = results["greedy"]["by_length"]
    lines.append("greedy by length: " + ", ".join(f"{n}: {by[n]['seq_accuracy']:.3f}" for n in by))
    return "\n".join([*lines, f"figures in {figures}"])


class StringReader:
    """A trained reader from its run directory.

    >>> reader = StringReader.load("runs/crnn/default")
    >>> reader.predict(images)          # uint8 [N, 32, 224] -> [[digits], ...]
    """

    def __init__(self, run: experiment.TrainedRun):
        self.config, self.step = run.typed(Config), run.step
        self.reader = build_reader(self.config)
        like = jax.eval_shape(self.reader.init, jax.random.PRNGKey(0))
        experiment.check_params(run.params, like, run.source)
        self.params = jax.tree.map(jnp.asarray, run.params)

    @classmethod
    def load(cls, run_dir: str | Path, which: str = "best") -> "StringReader":
        return cls(experiment.load_run(run_dir, NAME, which))

    def predict(self, images: np.ndarray, beam: int = 0) -> list[list[int]]:
        images = np.asarray(images)
        want = (self.config.data.height, self.config.data.width)
        if images.ndim != 3 or images.shape[1:] != want:
            raise ValueError(f"expected images [N, {want[0]}, {want[1]}], got {images.shape}")
        return decode(self.reader, self.params, images, beam)


def check_classifier(config: Config, options: Options) -> None:
    """The ``--classifier`` loads now, not after training."""
    pretrained.digit_classifier(options.classifier)


EXPERIMENT = Experiment(
    name=NAME, config=Config, make_task=make_task, options=Options, preflight=check_classifier
)

if __name__ == "__main__":
    EXPERIMENT.main()
