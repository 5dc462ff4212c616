"""Forecast a rotating machine's vibration: 25 x 100 samples in, the next 100 samples out.

    python -m experiments.signal_forecast                         # synthetic machine (default)
    python -m experiments.signal_forecast \\
        --data.path ../shared/datasets/vibration/cwru_normal_0hp_de_12k_decim4.npy
    python -m experiments.signal_forecast --data.path rig.mat --data.variable X097_DE_time
    python -m experiments.signal_forecast --data.path healthy.npy \\
        --detect inner_race.npy outer_race.mat:X130_DE_time        # fault detection
    python -m experiments.signal_forecast --help

The signal is split in time into train, validation and test segments (windows
never cross a boundary), z-scored by the training segment. The default model is a
highway (LSTNet's, Lai et al. 2018): a ridge linear AR model of the whole input window,
fitted by least squares and then fixed, plus the recurrent network (the course's
LSTM(100) -> LSTM(100) -> Dense(100, relu) -> Dense(100), its output layer starting
at zero) trained on what the linear model misses; ``--model.arch course`` trains the
network alone. The test report (:mod:`rnn_jax.evaluation.forecasting`) scores it
against persistence, seasonal naive and the linear AR model, for one window and
recursively for 25, in units of the training segment's variance. With ``--detect``
it also scores other recordings for faults (:mod:`rnn_jax.evaluation.faults`).
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from rnn_jax.data import signals
from rnn_jax.evaluation import baselines, faults, forecasting
from rnn_jax.models import sample
from rnn_jax.models.forecaster import Forecaster
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment, TrainedModel, expect

NAME = "signal_forecast"
ARCHS = ("highway", "course")


@dataclass(frozen=True)
class DataConfig:
    path: str | None = None
    """Signal file (.npy, .csv/.txt, .mat; never a pickle); none: the synthetic rotating machine."""
    variable: str | None = None
    """Variable to read from a .mat file (e.g. X097_DE_time)."""
    rate: Annotated[float, checks.positive] = 12_000.0
    """Sample rate of the signal (Hz); CWRU's 12 kHz files and the synthetic machine: 12000."""
    synthetic_samples: Annotated[int, checks.count] = 60_000
    """Length of the synthetic signal (12 kHz, 1797 rpm, inner-race defect)."""
    steps: Annotated[int, checks.count] = 25
    """Time steps per input window."""
    features: Annotated[int, checks.count] = 100
    """Samples per time step; also the forecast length."""
    stride: Annotated[int, checks.count] = 5
    """Samples between the starts of consecutive windows."""
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    """Fractions of the signal, in time order, for train, validation and test."""


@dataclass(frozen=True)
class ModelConfig:
    arch: Annotated[str, checks.one_of(*ARCHS)] = "highway"
    """highway: a ridge linear AR model (fitted first, then fixed) plus the recurrent network
    on what it misses (LSTNet's autoregressive highway); course: the network alone."""
    cell: task.CellName = "lstm"
    hidden: Annotated[tuple[int, ...], checks.count] = (100, 100)
    """Hidden units of each recurrent layer."""
    head: Annotated[tuple[int, ...], checks.count] = (100,)
    """Hidden widths of the relu MLP head before the output layer."""
    dropout: Annotated[float, checks.rate] = 0.0
    """Dropout between recurrent layers and before the head, while training."""


@dataclass(frozen=True)
class TrainConfig(task.EpochTrainConfig):
    epochs: int = 30
    batch_size: int = 32


@dataclass(frozen=True)
class EvalConfig:
    recursive_windows: Annotated[int, checks.count] = 25
    """Windows generated recursively (each prediction appended as the newest step)."""
    recursive_every: Annotated[int, checks.count] = 100
    """Samples between the starts of the recursive test forecasts."""


@dataclass(frozen=True)
class Config(task.Config):
    """Train an RNN that forecasts the next samples of a vibration signal."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()


@dataclass(frozen=True)
class Options(experiment.RunOptions):
    detect: tuple[str, ...] = ()
    """Recordings to score for faults (FILE, or FILE.mat:VARIABLE): ROC-AUC against the
    healthy test windows, first alarm, figures."""
    detect_rate: Annotated[tuple[float, ...], checks.positive] = ()
    """Sample rate (Hz) of each --detect recording (default: --data.rate for all)."""
    resample: bool = False
    """Resample --detect recordings at another rate to --data.rate (scipy's
    resample_poly); without it a rate mismatch stops with an error."""
    from_run: Annotated[str | None, tyro.conf.arg(name="from")] = None
    """A trained signal_forecast run to report (test segment, --detect) instead of
    training."""


def build_model(config: Config) -> Forecaster:
    """The network, on top of the linear AR model with ``--model.arch highway``."""
    m, d = config.model, config.data
    net = SequenceModel(
        in_dim=d.features,
        out_dim=d.features,
        cell=m.cell,
        hidden=tuple(m.hidden),
        head=tuple(m.head),
        dropout=m.dropout,
    )
    return Forecaster(net, d.steps, highway=m.arch == "highway")


def prepare_data(config: Config) -> dict:
    """Segments (z-scored by the training segment), their windows, the highway's linear AR
    model and the baseline forecasters."""
    d = config.data
    if d.path:
        signal = signals.load_signal(d.path, d.variable)
    else:
        machine = signals.Machine(fs=d.rate)
        signal = signals.synthetic_vibration(d.synthetic_samples, machine, seed=config.seed)
    out = signals.segment_windows(signal, d.split, d.steps, d.features, d.stride)
    val_x = out["val"]["x"].reshape(len(out["val"]["x"]), -1)
    fit = lambda normal: baselines.fit_linear_ar(normal, val_x, out["val"]["y"])  # noqa: E731
    # Two ridge AR models on the same input window: fitted on every window offset of the
    # training segment (the highway's linear part; the baseline to beat), and on the
    # network's training windows only (every stride-th offset: weaker, the course's).
    length = d.steps * d.features
    out["ar"] = fit(baselines.window_normal_equations(out["train"]["signal"], length, d.features))
    train_x = out["train"]["x"].reshape(len(out["train"]["x"]), -1)
    strided = fit(baselines.normal_equations(train_x, out["train"]["y"]))
    ars = {"linear AR, every offset": out["ar"], f"linear AR, stride {d.stride}": strided}
    out["baselines"] = baselines.forecasters(out["train"]["signal"], length, d.features, ars)
    return out


@functools.cache
def make_fns(model: Forecaster):
    """The loss, the evaluation sums and the one-step prediction of a model (either arch);
    cached, so runs of one model (the members of a sweep group) share their compiled
    functions."""

    def loss_fn(params, batch, key):
        pred = model.apply(params, batch["x"], key)
        return jnp.mean((pred - batch["y"]) ** 2), {}

    def eval_sums(params, batch):
        err = jnp.mean((model.apply(params, batch["x"]) - batch["y"]) ** 2, axis=-1)
        w = batch["weight"]
        return {"mse": jnp.sum(w * err), "count": jnp.sum(w)}

    return loss_fn, eval_sums, jax.jit(model.apply)


@functools.partial(jax.jit, static_argnums=(0, 3))
def recursive(model: Forecaster, params, window: jax.Array, n: int) -> jax.Array:
    """``n`` windows ``[B, n, F]`` generated after ``window [B, S, F]``, each prediction
    appended as the newest step."""
    return sample.sliding_window(lambda w: model.apply(params, w), window, n)


def make_task(config: Config, options: Options) -> task.Task:
    """The forecaster's training run: windows of the signal, the model, the test report."""
    data = prepare_data(config)
    model = build_model(config)
    d = config.data
    recordings = faults.load_recordings(
        options.detect, options.detect_rate, d.rate, resample=options.resample
    )
    loss_fn, eval_sums, predict = make_fns(model)

    def report(params, run_dir: Path) -> task.Report:
        e, figures = config.eval, run_dir / "figures"
        results = forecasting.evaluate(
            lambda x: batching.in_chunks(lambda c: predict(params, c), x, 1024),
            lambda x, n: recursive(model, params, jnp.asarray(x), n),
            data["baselines"],
            data["test"],
            windows=e.recursive_windows,
            every=e.recursive_every,
            figures=figures,
        )
        results["train_std"] = data["std"]
        text = forecasting.summary(results, figures)
        if recordings:
            windows = faults.Windows(d.steps, d.features, d.stride, d.rate)
            model_predict = lambda x: predict(params, x)  # noqa: E731
            results["detect"] = faults.detect(
                model_predict, data["ar"], data, recordings, windows, figures / "detect_scores.png"
            )
            text += faults.summary(results["detect"])
        return task.Report(results, {"mse": results["one_window_mse"]["model"]}, text)

    return task.Task(
        experiment=NAME,
        config=config,
        init=lambda key: model.init(key, data["ar"].w),
        loss_fn=loss_fn,
        train_data={k: data["train"][k] for k in "xy"},
        batch_size=config.train.batch_size,
        schedule=task.by_epochs(config.train, len(data["train"]["x"]), evals=1, logs=2),
        evaluate=train.Validation(eval_sums, {k: data["val"][k] for k in "xy"}, 512),
        best="mse",
        mode="min",
        report=report,
        curves=("loss", "mse"),
    )


def predict(trained: TrainedModel, windows: np.ndarray) -> np.ndarray:
    """The next ``F`` samples ``[N, F]`` after each window ``[N, S, F]`` of the signal,
    z-scored by the run's training segment (its mean and std)."""
    d = trained.config.data
    windows = expect(windows, (None, d.steps, d.features), "windows")
    forecast = make_fns(trained.model)[2]
    return batching.in_chunks(lambda x: forecast(trained.params, x), windows, 1024)


EXPERIMENT = Experiment(
    name=NAME,
    config=Config,
    make_task=make_task,
    build=build_model,
    predict=predict,
    options=Options,
)

if __name__ == "__main__":
    EXPERIMENT.main()
