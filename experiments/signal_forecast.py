"""Forecast a rotating machine's vibration: 25 x 100 samples in, the next 100 samples out.

    python -m experiments.signal_forecast                         # synthetic machine (default)
    python -m experiments.signal_forecast \\
        --data.path ../shared/datasets/vibration/cwru_normal_0hp_de_12k_decim4.npy
    python -m experiments.signal_forecast --data.path rig.mat --data.variable X097_DE_time
    python -m experiments.signal_forecast --data.path healthy.npy \\
        --detect inner_race.npy outer_race.mat:X130_DE_time        # fault detection
    python -m experiments.signal_forecast --help

The signal is split in time into train, validation and test segments (windows
never cross a boundary) and z-scored with the training segment's mean and
standard deviation. The default model is a highway (LSTNet's autoregressive
highway, Lai et al. 2018): a ridge linear AR model of the whole input window,
fitted by least squares and then fixed, plus the recurrent network (the
course's LSTM(100) -> LSTM(100) -> Dense(100, relu) -> Dense(100), its output
layer starting at zero) trained on what the linear model misses;
``--model.arch course`` trains the network alone. It is scored on the test
segment against persistence, seasonal naive and the same linear AR model, for
one window and recursively for 25 windows. MSEs are in units of the training
segment's variance (z-scored signal).

With ``--detect``, the trained model (or the run given by ``--from``) scores
every window of other recordings by its forecast error, normalised by the
healthy validation error (:mod:`rnn_jax.evaluation.detection`): ROC-AUC against the
healthy test windows and the first alarm at a 1% false-alarm threshold, for
the model, the linear AR model's residuals and the window's energy.
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from rnn_jax import plotting
from rnn_jax.data import signals
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import baselines, detection
from rnn_jax.models import sample
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.nn import dense
from rnn_jax.training import batching, checks, experiment, task, train
from rnn_jax.training.definition import Experiment

NAME = "signal_forecast"


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


ARCHS = ("highway", "course")


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "highway"
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
class TrainConfig(task.TrainConfig):
    epochs: Annotated[int, checks.count] = 30
    """Passes over the training windows."""
    batch_size: Annotated[int, checks.count] = 32
    """Windows per step."""


@dataclass(frozen=True)
class EvalConfig:
    recursive_windows: Annotated[int, checks.count] = 25
    """Windows generated recursively (each prediction appended as the newest step)."""
    recursive_every: Annotated[int, checks.count] = 100
    """Samples between the starts of the recursive test forecasts."""


@dataclass(frozen=True)
class Config:
    """Train an RNN that forecasts the next samples of a vibration signal."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    seed: int = 0
    """Seed for the synthetic signal, initialisation and shuffling."""


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


def build_model(config: Config) -> SequenceModel:
    """The recurrent network (the whole model with ``--model.arch course``)."""
    m, d = config.model, config.data
    if m.arch not in ARCHS:
        raise ConfigError(f"unknown --model.arch {m.arch!r}; choose one of {ARCHS}")
    return SequenceModel(
        in_dim=d.features,
        out_dim=d.features,
        cell=m.cell,
        hidden=tuple(m.hidden),
        head=tuple(m.head),
        dropout=m.dropout,
    )


def prepare_data(config: Config) -> dict:
    """Segments (z-scored by the training segment) and their windows."""
    d = config.data
    if d.rate <= 0:
        raise ConfigError(f"--data.rate must be positive (Hz), got {d.rate:g}")
    if d.path:
        signal = signals.load_signal(d.path, d.variable)
    else:
        machine = signals.Machine(fs=d.rate)
        signal = signals.synthetic_vibration(d.synthetic_samples, machine, seed=config.seed)
    segments = signals.split_in_time(signal, d.split)
    mean, std = float(segments[0].mean()), float(segments[0].std())
    if std == 0:
        raise signals.SignalError("the training segment is constant; nothing to learn")
    out = {"mean": mean, "std": std}
    for name, seg in zip(("train", "val", "test"), segments):
        z = (seg - mean) / std
        try:
            x, y = signals.windows(z, d.steps, d.features, d.stride)
        except signals.SignalError as err:
            raise signals.SignalError(f"{name} segment ({len(seg)} samples): {err}") from None
        out[name] = {"x": x, "y": y, "signal": z}
    val_x = out["val"]["x"].reshape(len(out["val"]["x"]), -1)
    fit = lambda normal: baselines.fit_linear_ar(normal, val_x, out["val"]["y"])  # noqa: E731
    # Two ridge AR models on the same input window: fitted on every window offset of the
    # training segment (the highway's linear part; the baseline to beat), and on the
    # network's training windows only (every stride-th offset: weaker, the course's).
    length = d.steps * d.features
    out["ar"] = fit(baselines.window_normal_equations(out["train"]["signal"], length, d.features))
    train_x = out["train"]["x"].reshape(len(out["train"]["x"]), -1)
    out["ar_strided"] = fit(baselines.normal_equations(train_x, out["train"]["y"]))
    return out


def forecast(model: SequenceModel, params, x: jax.Array, key=None) -> jax.Array:
    """The next samples ``[B, F]`` after windows ``x [B, S, F]``: the network's output, plus,
    in the highway model (params with an ``"ar"`` part), the fixed linear AR forecast."""
    if "ar" not in params:
        return model.apply_last(params, x, key=key)
    ar = jax.lax.stop_gradient(params["ar"])  # fitted by least squares, not by Adam
    linear = dense.linear_apply(ar, x.reshape(x.shape[0], -1))
    return linear + model.apply_last(params["net"], x, key=key)


def highway_init(model: SequenceModel, ar: baselines.LinearAR):
    """``key -> params`` of the highway model: the fitted AR weights, and the network with a
    zero output layer, so that training starts from the AR model's forecasts."""

    def init(key):
        net = model.init(key)
        net["head"][-1] = jax.tree.map(jnp.zeros_like, net["head"][-1])
        w = jnp.asarray(ar.w, jnp.float32)
        return {"net": net, "ar": {"w": w[:-1], "b": w[-1]}}

    return init


@functools.cache
def make_fns(model: SequenceModel):
    """The loss, the evaluation sums and the one-step prediction of a model (either arch);
    cached, so runs of one model (the members of a sweep group) share their compiled
    functions."""

    def loss_fn(params, batch, key):
        pred = forecast(model, params, batch["x"], key)
        return jnp.mean((pred - batch["y"]) ** 2), {}

    def eval_sums(params, batch):
        err = jnp.mean((forecast(model, params, batch["x"]) - batch["y"]) ** 2, axis=-1)
        w = batch["weight"]
        return {"mse": jnp.sum(w * err), "count": jnp.sum(w)}

    predict = jax.jit(functools.partial(forecast, model))
    return loss_fn, eval_sums, predict


def evaluate_test(config: Config, data: dict, params, model: SequenceModel, run_dir: Path) -> dict:
    """One-window and recursive test MSEs of the model and the baselines; figures."""
    d, e = config.data, config.eval
    _, _, predict = make_fns(model)
    test = data["test"]
    ars = {
        "linear AR, every offset": data["ar"],
        f"linear AR, stride {d.stride}": data["ar_strided"],
    }
    methods = baselines.forecasters(data["train"]["signal"], d.steps * d.features, d.features, ars)
    flat = test["x"].reshape(len(test["x"]), -1)
    one = {"model": batching.in_chunks(lambda x: predict(params, x), test["x"], 1024)}
    one.update({name: fn(flat) for name, fn in methods.items()})
    one_mse = {name: float(np.mean((p - test["y"]) ** 2)) for name, p in one.items()}

    # Recursive: inputs whose next n_windows * features samples all lie in the test segment.
    z, length = test["signal"], d.steps * d.features
    span = length + e.recursive_windows * d.features
    if len(z) < span:
        raise signals.SignalError(
            f"test segment of {len(z)} samples is too short for a {e.recursive_windows}-window "
            f"recursive forecast ({span} samples); lower --eval.recursive-windows"
        )
    starts = np.arange(0, len(z) - span + 1, e.recursive_every)
    window = np.stack([z[s : s + length] for s in starts]).reshape(-1, d.steps, d.features)
    truth = np.stack([z[s + length : s + span] for s in starts]).reshape(
        -1, e.recursive_windows, d.features
    )
    recursive = jax.jit(
        lambda p, w: sample.sliding_window(
            lambda window: forecast(model, p, window), w, e.recursive_windows
        )
    )
    rec = {"model": np.asarray(recursive(params, jnp.asarray(window)))}
    rec.update(
        {name: baselines.recursive(fn, window, e.recursive_windows) for name, fn in methods.items()}
    )
    by_horizon = {name: np.mean((p - truth) ** 2, axis=(0, 2)).tolist() for name, p in rec.items()}

    figures = run_dir / "figures"
    context = np.arange(-3 * d.features, 0)
    plotting.plot_forecast(
        context,
        test["x"][0].reshape(-1)[-3 * d.features :],
        test["y"][0],
        {name: p[0] for name, p in one.items()},
        figures / "one_window.png",
        title="Next 100 samples after a test window",
    )
    plotting.plot_forecast(
        context,
        window[0].reshape(-1)[-3 * d.features :],
        truth[0].reshape(-1),
        {"model": rec["model"][0].reshape(-1)},
        figures / "recursive.png",
        title=f"Recursive forecast, {e.recursive_windows} windows",
    )
    plotting.plot_line(
        range(1, e.recursive_windows + 1),
        by_horizon,
        figures / "error_vs_horizon.png",
        xlabel="window ahead (x 100 samples)",
        ylabel="MSE (z-scored)",
        title="Recursive forecast error",
        logy=True,
    )
    return {
        "one_window_mse": one_mse,
        "recursive_mse_by_window": by_horizon,
        "n_test_windows": len(test["x"]),
        "n_recursive_starts": len(starts),
        "train_std": data["std"],
    }


def load_recordings(config: Config, options: Options) -> dict[str, np.ndarray]:
    """The ``--detect`` recordings by name, at the model's sample rate."""
    rates = options.detect_rate or (config.data.rate,) * len(options.detect)
    if len(rates) != len(options.detect):
        raise ConfigError(
            f"--detect-rate gives {len(rates)} rates for {len(options.detect)} --detect "
            "recordings; give one per recording, or none for --data.rate"
        )
    out = {}
    for spec, rate in zip(options.detect, rates):
        path, variable = spec, None
        if ".mat:" in spec.lower():
            path, variable = spec.rsplit(":", 1)
        name = Path(path).stem
        signal = signals.load_signal(path, variable)
        out[name if name not in out else spec] = detection.match_rate(
            signal, rate, config.data.rate, resample=options.resample, name=path
        )
    return out


SCALINGS = {
    "healthy units": "each recording z-scored with the healthy training segment's mean and std",
    "own scale": "each recording z-scored with its own mean and std (blind to amplitude)",
}


def detect_faults(
    config: Config, data: dict, params, model: SequenceModel, recordings: dict, run_dir: Path
) -> dict:
    """Fault scores of each recording's windows (:func:`detection.evaluate`) for the
    model, the AR model and the window energy, in both :data:`SCALINGS`; a figure of the
    model's scores over time."""
    d = config.data
    _, _, predict = make_fns(model)
    predictors = {
        "model": lambda x: predict(params, x),
        "linear AR residual": lambda x: data["ar"].predict(x.reshape(len(x), -1)),
        "energy (zero forecast)": lambda x: np.zeros((len(x), d.features), np.float32),
    }
    healthy = [(data[split]["x"], data[split]["y"]) for split in ("val", "test")]
    # Window i's target ends at sample stride * i + (steps + 1) * features.
    end_s = lambda n: (d.stride * np.arange(n) + (d.steps + 1) * d.features) / d.rate  # noqa: E731
    results, panels, thresholds = {}, {}, {}
    for scaling in SCALINGS:
        windows = {}
        for name, signal in recordings.items():
            own = scaling == "own scale"
            mean, std = (signal.mean(), signal.std()) if own else (data["mean"], data["std"])
            try:
                windows[name] = signals.windows(
                    (signal - mean) / std, d.steps, d.features, d.stride
                )
            except signals.SignalError as err:
                raise signals.SignalError(f"--detect recording {name}: {err}") from None
        table, scores = detection.evaluate(predictors, *healthy, windows)
        for row in table.values():
            for rec in row["recordings"].values():
                first = rec["first_alarm"]
                rec["first_alarm_s"] = None if first is None else float(end_s(first + 1)[-1])
        results[scaling] = table
        panel = f"model, {scaling}"
        panels[panel] = {name: (end_s(len(v)), v) for name, v in scores["model"].items()}
        thresholds[panel] = table["model"]["threshold"]
    plotting.plot_scores(
        panels, thresholds, run_dir / "figures" / "detect_scores.png", xlabel="time (s)"
    )
    return {"scalings": SCALINGS, **results}


def detect_summary(detect: dict) -> str:
    lines = [
        "\nfault detection (alarm threshold: 1% of healthy validation windows above it):",
        f"  {'scaling':<15}{'score':<24}{'recording':<36}{'ROC-AUC':>8}{'first alarm':>13}"
        f"{'healthy FA':>12}",
    ]
    for scaling in SCALINGS:
        for method, row in detect[scaling].items():
            for name, rec in row["recordings"].items():
                alarm = rec["first_alarm_s"]
                alarm = "never" if alarm is None else f"{alarm:.3f} s"
                lines.append(
                    f"  {scaling:<15}{method:<24}{name:<36}{rec['roc_auc']:>8.3f}{alarm:>13}"
                    f"{row['healthy_test_false_alarms']:>12.1%}"
                )
    return "\n".join(lines)


def make_task(config: Config, options: Options) -> task.Task:
    """The forecaster's training run: windows of the signal, the model, the test report."""
    data = prepare_data(config)
    model = build_model(config)
    recordings = load_recordings(config, options)
    loss_fn, eval_sums, _ = make_fns(model)
    highway = config.model.arch == "highway"
    per_epoch = len(data["train"]["x"]) // max(config.train.batch_size, 1)
    val = {k: data["val"][k] for k in "xy"}

    def report(params, run_dir: Path) -> task.Report:
        results = evaluate_test(config, data, params, model, run_dir)
        text = summary(results, run_dir)
        if recordings:
            results["detect"] = detect_faults(config, data, params, model, recordings, run_dir)
            text += detect_summary(results["detect"])
        return task.Report(results, {"mse": results["one_window_mse"]["model"]}, text)

    return task.Task(
        experiment=NAME,
        config=config,
        init=highway_init(model, data["ar"]) if highway else model.init,
        loss_fn=loss_fn,
        train_data={k: data["train"][k] for k in "xy"},
        batch_size=config.train.batch_size,
        steps=per_epoch * config.train.epochs,
        evaluate=train.Validation(eval_sums, val, 512),
        eval_every=max(per_epoch, 1),
        best="mse",
        mode="min",
        report=report,
        model=None if highway else model,  # the network alone is not the whole model
        curves=("loss", "mse"),
        log_every=max(per_epoch // 2, 1),
    )


def summary(results: dict, run_dir: Path) -> str:
    lines = [
        f"\ntest MSE (z-scored; x {results['train_std'] ** 2:.3g} for raw units):",
        f"  {'method':<40}{'one window':>12}{'recursive, all':>16}"
        f"{'window 1':>10}{'window 25':>10}",
    ]
    for name, mse in results["one_window_mse"].items():
        rec = results["recursive_mse_by_window"][name]
        lines.append(
            f"  {name:<40}{mse:>12.4f}{np.mean(rec):>16.4f}{rec[0]:>10.4f}{rec[-1]:>10.4f}"
        )
    return "\n".join([*lines, f"figures in {run_dir / 'figures'}"])


EXPERIMENT = Experiment(name=NAME, config=Config, make_task=make_task, options=Options)

if __name__ == "__main__":
    EXPERIMENT.main()
