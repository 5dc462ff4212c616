"""Autoregressive MNIST completion: see the top 14 rows, draw the other 14 one row at a time.

    python -m experiments.mnist_gen                               # train + evaluate (defaults)
    python -m experiments.mnist_gen --data-dir DIR                # offline: the 4 MNIST files
    python -m experiments.mnist_gen --mode window                 # the course's sliding window
    python -m experiments.mnist_gen --from RUN_DIR --generate     # reuse a trained run
    python -m experiments.mnist_gen --classifier RUN_DIR          # also: does the digit survive?
    python -m experiments.mnist_gen --help

The model: 2 LSTM layers (128, 256), then Dense(100, relu), Dense(28). Two
ways to generate with it (``--mode``):

* ``teacher`` (default): read rows 1..t, predict row t+1; generate by carrying
  the LSTM state forward and feeding each predicted row back in.
* ``window`` (the course's): read a window of 14 consecutive rows, predict the
  next; generate by sliding the window (drop the oldest row, append the
  prediction), re-reading all 14 rows for every new row.

And three training objectives (``--train.objective``):

* ``next_row`` (the course's): the MSE of each next *real* row (teacher
  forcing: every row of every image in one pass; window: one window each).
* ``rollout`` (default): the MSE of the *generated* bottom half against the
  real one, backpropagated through the generation itself, so the model is
  trained on the inputs it sees when it generates (its own predictions).
* ``both``: their sum.

The bottom halves of all 10k test images are generated and scored by per-pixel
MSE against the real ones, next to baselines computed in the same run.
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from experiments import mnist_classifier
from rnn_jax import cli, plotting, rundir, train
from rnn_jax.baselines import knn_indices
from rnn_jax.experiment import load_state, train_run
from rnn_jax.models import SequenceModel

EXPERIMENT = "mnist_gen"
BEST = "val/gen_mse"
ROWS, GIVEN = 28, 14
MODES = ("teacher", "window")
OBJECTIVES = ("next_row", "rollout", "both")


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "lstm"
    """Recurrent cell: rnn, rnn_relu, lstm, gru or gru_reset_after."""
    hidden: tuple[int, ...] = (128, 256)
    """Hidden units of each recurrent layer (the course: 128 then 256; quick version: 10 10)."""
    head: tuple[int, ...] = (100,)
    """Hidden widths of the relu MLP between the last RNN output and the 28 pixels."""
    output: str = "sigmoid"
    """Output activation for the pixels in [0, 1]: sigmoid, or linear (the course's)."""


@dataclass(frozen=True)
class TrainConfig(train.StepConfig):
    steps: int = 4000
    """Optimizer steps."""
    batch_size: int = 64
    """Images (teacher) or windows (window) per step."""
    lr: float = 2e-3
    """Peak learning rate of Adam (the course: 5e-4, constant)."""
    objective: str = "rollout"
    """next_row (predict each next real row: the course's), rollout (the generated bottom
    half against the real one, backpropagated through the generation), or both (their sum)."""
    eval_every: int = 500
    """Steps between validation generations (checkpoint points)."""
    val_size: int = 5000
    """Training images held out (fixed by the seed); the first 1000 choose the checkpoint."""


@dataclass(frozen=True)
class Config:
    """Train an LSTM that completes MNIST digits from their top 14 rows, row by row."""

    mode: str = "teacher"
    """teacher (predict every next row, carry the state) or window (course: 14-row window)."""
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    seed: int = 0
    """Seed for initialisation, the validation split and shuffling."""
    data_dir: str | None = None
    """Folder with the four MNIST files, for offline use (else $RNN_JAX_MNIST_DIR, else
    download)."""
    workdir: str = "runs/mnist_gen/default"
    """Run directory: config, metrics, checkpoints, figures, results."""
    resume: bool = False
    """Continue the run in --workdir from its latest checkpoint."""
    from_run: Annotated[str | None, tyro.conf.arg(name="from")] = None
    """With --generate: a trained run directory to load instead of training."""
    generate: bool = False
    """Only generate and evaluate, from the run given by --from."""
    classifier: str | None = None
    """A mnist_classifier run directory: also report its accuracy on completed images."""
    synthetic: int = 0
    """Use N synthetic images instead of MNIST (smoke tests)."""


VOLATILE = ("data_dir", "workdir", "resume", "from_run", "generate", "classifier")


def build_model(config: Config) -> SequenceModel:
    m = config.model
    return SequenceModel(
        in_dim=ROWS, out_dim=ROWS, cell=m.cell, hidden=tuple(m.hidden), head=tuple(m.head)
    )


def take_windows(images: jax.Array, starts: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The course's (window, next row) pairs: ``x = img[i : i+14]``, ``y = img[i+14]``.

    ``images [B, 28, 28]``, ``starts [B]`` in ``0 .. 13``; returns ``x [B, 14, 28]``, ``y [B, 28]``.
    """
    take = jax.vmap(lambda img, i: jax.lax.dynamic_slice_in_dim(img, i, GIVEN + 1))
    chunk = take(images, starts)
    return chunk[:, :GIVEN], chunk[:, GIVEN]


def teacher_pairs(images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Teacher forcing: inputs rows 1..27, targets rows 2..28 (the inputs shifted by one row)."""
    return images[:, :-1], images[:, 1:]


class Completer:
    """Model functions for one config: losses and jitted generation of bottom halves."""

    def __init__(self, config: Config):
        if config.mode not in MODES:
            raise ValueError(f"unknown --mode {config.mode!r}; choose one of {MODES}")
        if config.train.objective not in OBJECTIVES:
            raise ValueError(
                f"unknown --train.objective {config.train.objective!r}; choose one of {OBJECTIVES}"
            )
        if config.model.output not in ("sigmoid", "linear"):
            raise ValueError(f"unknown --model.output {config.model.output!r}; sigmoid or linear")
        self.config, self.model = config, build_model(config)
        self.complete = jax.jit(self._complete)

    def out(self, z: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(z) if self.config.model.output == "sigmoid" else z

    def loss_fn(self, params, batch, key):
        images = mnist_classifier.pixels(batch["image"])
        objective = self.config.train.objective
        losses = {}
        if objective in ("next_row", "both"):
            losses["next_row"] = self.next_row_loss(params, images, key)
        if objective in ("rollout", "both"):
            generated = self._complete(params, images[:, :GIVEN])
            losses["rollout"] = jnp.mean((generated[:, GIVEN:] - images[:, GIVEN:]) ** 2)
        return sum(losses.values()), losses if objective == "both" else {}

    def next_row_loss(self, params, images, key):
        """MSE of the next real row: every row given rows 1..t (teacher), or a random window's."""
        if self.config.mode == "teacher":
            xs, ys = teacher_pairs(images)
            pred = self.out(self.model.apply_seq(params, xs))
        else:
            # One random window per image and step; over the run every window is drawn.
            starts = jax.random.randint(key, (images.shape[0],), 0, ROWS - GIVEN)
            xs, ys = take_windows(images, starts)
            pred = self.out(self.model.apply_last(params, xs))
        return jnp.mean((pred - ys) ** 2)

    def _complete(self, params, top: jax.Array) -> jax.Array:
        """Complete ``top [B, 14, 28]`` (floats in [0, 1]) to ``[B, 28, 28]`` by a ``lax.scan``."""
        steps = ROWS - top.shape[1]
        if self.config.mode == "teacher":
            carries, ys = self.model.features(params, top)
            first = self.out(self.model.head_apply(params, ys[:, -1]))

            def body(carry, _):
                carries, row = carry
                carries, z = self.model.step(params, carries, row)
                nxt = self.out(z)
                return (carries, nxt), row

            _, rows = jax.lax.scan(body, (carries, first), None, length=steps)
        else:

            def body(window, _):
                row = self.out(self.model.apply_last(params, window))
                return jnp.concatenate([window[:, 1:], row[:, None]], axis=1), row

            _, rows = jax.lax.scan(body, top, None, length=steps)
        bottom = jnp.clip(jnp.swapaxes(rows, 0, 1), 0.0, 1.0)
        return jnp.concatenate([top, bottom], axis=1)

    def complete_all(self, params, images: np.ndarray, batch: int = 1000) -> np.ndarray:
        """Completions of the top halves of many uint8 images, as floats ``[N, 28, 28]``."""
        out = []
        for i in range(0, len(images), batch):
            top = mnist_classifier.pixels(jnp.asarray(images[i : i + batch, :GIVEN]))
            out.append(np.asarray(self.complete(params, top)))
        return np.concatenate(out)


def bottom_mse(generated: np.ndarray, images: np.ndarray) -> float:
    """Per-pixel MSE of the bottom halves (generated floats vs. real uint8 images)."""
    real = images[:, GIVEN:].astype(np.float32) / 255.0
    return float(np.mean((generated[:, GIVEN:] - real) ** 2))


def baselines(train_images: np.ndarray, test_images: np.ndarray) -> dict[str, np.ndarray]:
    """Bottom halves ``[N, 14, 28]`` predicted by four non-neural baselines."""
    tr = train_images.astype(np.float32) / 255.0
    te = test_images.astype(np.float32) / 255.0
    nn = knn_indices(tr[:, :GIVEN], te[:, :GIVEN], k=10)
    n = len(te)
    return {
        "(a) mean training bottom half": np.broadcast_to(
            tr[:, GIVEN:].mean(0), (n, ROWS - GIVEN, ROWS)
        ),
        "(b) repeat last given row": np.repeat(te[:, GIVEN - 1 : GIVEN], ROWS - GIVEN, axis=1),
        "(c) nearest training image (top half)": tr[nn[:, 0], GIVEN:],
        "(d) mean of 10 nearest": tr[nn, GIVEN:].mean(1),
    }


def fit(config: Config, data, completer: Completer) -> tuple[Path, object, int]:
    """Train; returns the run directory, the best params by validation MSE, and its step."""
    run_dir = rundir.prepare(
        config.workdir, EXPERIMENT, config, resume=config.resume, volatile=VOLATILE
    )
    val_images = data["val"]["image"][:1000]

    def evaluate(params):
        gen = completer.complete_all(params, val_images)
        return {"val": {"gen_mse": bottom_mse(gen, val_images)}}

    run = train_run(
        experiment=EXPERIMENT,
        run_dir=run_dir,
        resume=config.resume,
        init_params=lambda: completer.model.init(jax.random.PRNGKey(config.seed)),
        loss_fn=completer.loss_fn,
        tx=config.train.optimizer(config.train.steps),
        train_arrays={"image": data["train"]["image"]},
        batch_size=config.train.batch_size,
        total_steps=config.train.steps,
        seed=config.seed,
        devices=config.train.devices,
        evaluate=evaluate,
        eval_every=config.train.eval_every,
        best_metric=BEST,
        best_mode="min",
        log_every=100,
    )
    plotting.plot_curves(run.dir, ["loss", "gen_mse"], run.dir / "figures" / "curves.png")
    return run.dir, run.best_params, run.best_step


def load_run(run_dir: str | Path) -> tuple[Config, object, int]:
    """Config, best params and step of a trained mnist_gen run."""
    config = rundir.config_from_dict(Config, rundir.read_config(run_dir, EXPERIMENT))
    completer = Completer(config)
    like = jax.eval_shape(
        lambda: train.init_state(
            completer.model.init(jax.random.PRNGKey(0)), config.train.optimizer(1), 0
        )
    )
    state, step = load_state(run_dir, like, best_metric=BEST, best_mode="min")
    return config, state.params, step


class Generator:
    """A trained generator loaded from its run directory.

    >>> gen = Generator.load("runs/mnist_gen/default")
    >>> gen.complete(top_halves)      # [N, 14, 28] in [0, 1] (or uint8) -> [N, 28, 28]
    """

    def __init__(self, config: Config, params, step: int):
        self.config, self.params, self.step = config, params, step
        self.completer = Completer(config)

    @classmethod
    def load(cls, run_dir: str | Path) -> "Generator":
        return cls(*load_run(run_dir))

    def complete(self, top: np.ndarray) -> np.ndarray:
        top = np.asarray(top)
        if top.ndim != 3 or top.shape[1:] != (GIVEN, ROWS):
            raise ValueError(f"expected top halves [N, {GIVEN}, {ROWS}], got shape {top.shape}")
        return np.asarray(
            self.completer.complete(self.params, mnist_classifier.pixels(jnp.asarray(top)))
        )


def evaluate_completions(
    config: Config, data, completer: Completer, params, run_dir: Path, step: int
) -> dict:
    """Generate all test bottom halves; score them against the baselines; draw the figures."""
    test = data["test"]["image"]
    generated = completer.complete_all(params, test)
    table = {"model": bottom_mse(generated, test)}
    for name, bottom in baselines(data["train"]["image"], test).items():
        filled = np.concatenate([test[:, :GIVEN].astype(np.float32) / 255.0, bottom], axis=1)
        table[name] = bottom_mse(filled, test)
    results = {"step": step, "mode": config.mode, "test_bottom_mse": table, "n_test": len(test)}

    if config.classifier:
        clf = mnist_classifier.Classifier.load(config.classifier)
        labels = data["test"]["label"]
        results["classifier_accuracy"] = {
            "real images": float(np.mean(clf.predict(test) == labels)),
            "real top + generated bottom": float(np.mean(clf.predict(generated) == labels)),
        }

    labels = data["test"]["label"]
    pick = [int(np.flatnonzero(labels == c)[0]) for c in range(10) if np.any(labels == c)]
    figure = plotting.plot_completions(
        test[pick].astype(np.float32) / 255.0,
        GIVEN,
        generated[pick],
        labels[pick],
        run_dir / "figures" / "completions.png",
    )
    results["figure"] = str(figure)
    (run_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    rundir.MetricsLog(run_dir / "metrics.jsonl").write(step, "test", {"gen_mse": table["model"]})
    return results


def print_results(results: dict) -> None:
    print(f"\nper-pixel MSE of the generated bottom half, {results['n_test']} test images:")
    for name, value in results["test_bottom_mse"].items():
        print(f"  {name:<40} {value:.4f}")
    for name, value in results.get("classifier_accuracy", {}).items():
        print(f"  classifier accuracy, {name:<27} {value:.4f}")
    print(f"figure: {results['figure']}")


def train_and_evaluate(config: Config) -> dict:
    """Train (or, with ``--generate``, load) a generator and evaluate it on the test set."""
    if config.generate:
        if not config.from_run:
            raise ValueError("--generate needs --from RUN_DIR (a trained mnist_gen run)")
        run_dir = Path(config.from_run)
        saved, params, step = load_run(run_dir)
        config = dataclasses.replace(saved, data_dir=config.data_dir, classifier=config.classifier)
        data = mnist_classifier.load_data(config)
        completer = Completer(config)
    else:
        completer = Completer(config)
        if config.train.steps < 1 or config.train.batch_size < 1:
            raise ValueError("--train.steps and --train.batch-size must be positive")
        data = mnist_classifier.load_data(config)
        run_dir, params, step = fit(config, data, completer)
    results = evaluate_completions(config, data, completer, params, run_dir, step)
    print_results(results)
    return results


def main(args: list[str] | None = None) -> None:
    cli.run(Config, train_and_evaluate, args)


if __name__ == "__main__":
    main()
