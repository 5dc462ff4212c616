"""Forecast a rotating machine's vibration: 25 x 100 samples in, the next 100 samples out.

    python -m experiments.signal_forecast                         # synthetic machine (default)
    python -m experiments.signal_forecast \\
        --data.path ../shared/datasets/vibration/cwru_normal_0hp_de_12k_decim4.npy
    python -m experiments.signal_forecast --data.path rig.mat --data.variable X097_DE_time
    python -m experiments.signal_forecast --help

The signal is split in time into train, validation and test segments (windows
never cross a boundary) and z-scored with the training segment's mean and
standard deviation. The model (the course's: LSTM(100) -> LSTM(100) ->
Dense(100, relu) -> Dense(100)) is scored on the test segment against
persistence, seasonal naive and a linear autoregressive model on the same
input window, for one window and recursively for 25 windows. MSEs are in
units of the training segment's variance (z-scored signal).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import baselines, cli, plotting, rundir, train
from rnn_jax.data import signals
from rnn_jax.experiment import train_run
from rnn_jax.models import SequenceModel

EXPERIMENT = "signal_forecast"
BEST = "val/mse"


@dataclass(frozen=True)
class DataConfig:
    path: str | None = None
    """Signal file (.npy, .csv/.txt, .mat, .pkl); none: the synthetic rotating machine."""
    variable: str | None = None
    """Variable to read from a .mat file (e.g. X097_DE_time)."""
    synthetic_samples: int = 60_000
    """Length of the synthetic signal (12 kHz, 1797 rpm, inner-race defect)."""
    steps: int = 25
    """Time steps per input window."""
    features: int = 100
    """Samples per time step; also the forecast length."""
    stride: int = 5
    """Samples between the starts of consecutive windows."""
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    """Fractions of the signal, in time order, for train, validation and test."""


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "lstm"
    """Recurrent cell: rnn, rnn_relu, lstm, gru or gru_reset_after."""
    hidden: tuple[int, ...] = (100, 100)
    """Hidden units of each recurrent layer."""
    head: tuple[int, ...] = (100,)
    """Hidden widths of the relu MLP head before the output layer."""
    dropout: float = 0.0
    """Dropout between recurrent layers and before the head, while training."""


@dataclass(frozen=True)
class TrainConfig(train.StepConfig):
    epochs: int = 30
    """Passes over the training windows."""
    batch_size: int = 32
    """Windows per step."""


@dataclass(frozen=True)
class EvalConfig:
    recursive_windows: int = 25
    """Windows generated recursively (each prediction appended as the newest step)."""
    recursive_every: int = 100
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
    workdir: str = "runs/signal_forecast/default"
    """Run directory: config, metrics, checkpoints, figures, results."""
    resume: bool = False
    """Continue the run in --workdir from its latest checkpoint."""


VOLATILE = ("workdir", "resume")


def build_model(config: Config) -> SequenceModel:
    m, d = config.model, config.data
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
    if d.path:
        signal = signals.load_signal(d.path, d.variable)
    else:
        signal = signals.synthetic_vibration(d.synthetic_samples, seed=config.seed)
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
    return out


def make_fns(model: SequenceModel):
    def loss_fn(params, batch, key):
        pred = model.apply_last(params, batch["x"], key=key)
        return jnp.mean((pred - batch["y"]) ** 2), {}

    @jax.jit
    def eval_sums(params, batch):
        err = jnp.mean((model.apply_last(params, batch["x"]) - batch["y"]) ** 2, axis=-1)
        w = batch["weight"]
        return {"mse": jnp.sum(w * err), "count": jnp.sum(w)}

    predict = jax.jit(model.apply_last)
    return loss_fn, eval_sums, predict


def make_recursive(model: SequenceModel, n_windows: int):
    """Jitted recursive forecast ``[B, steps, features] -> [B, n_windows, features]`` (lax.scan)."""

    @jax.jit
    def recursive(params, window):
        def body(window, _):
            pred = model.apply_last(params, window)
            return jnp.concatenate([window[:, 1:], pred[:, None]], axis=1), pred

        _, preds = jax.lax.scan(body, window, None, length=n_windows)
        return jnp.swapaxes(preds, 0, 1)

    return recursive


def recursive_baseline(predict, window: np.ndarray, n_windows: int) -> np.ndarray:
    """Recursive forecasts of a numpy predictor ``[B, L] -> [B, features]``."""
    out = []
    for _ in range(n_windows):
        pred = predict(window.reshape(len(window), -1))
        out.append(pred)
        window = np.concatenate([window[:, 1:], pred[:, None]], axis=1)
    return np.stack(out, axis=1)


def batched(fn, x: np.ndarray, size: int = 1024) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i : i + size])) for i in range(0, len(x), size)])


def fit_baselines(data: dict, config: Config) -> dict:
    """Baseline predictors ``[N, steps*features] -> [N, features]`` fitted on training data."""
    d = config.data
    length, h = d.steps * d.features, d.features
    period = baselines.estimate_period(data["train"]["signal"], min_lag=h // 2, max_lag=length)
    x_tr = data["train"]["x"].reshape(len(data["train"]["x"]), -1)
    x_va = data["val"]["x"].reshape(len(data["val"]["x"]), -1)
    best = None
    for ridge in (1e-6, 1e-4, 1e-2):  # chosen on the validation segment
        ar = baselines.LinearAR(ridge).fit(x_tr, data["train"]["y"])
        mse = float(np.mean((ar.predict(x_va) - data["val"]["y"]) ** 2))
        if best is None or mse < best[0]:
            best = (mse, ar)
    return {
        "persistence": lambda x: baselines.persistence(x, h),
        f"seasonal naive (period {period})": lambda x: baselines.seasonal_naive(x, h, period),
        f"linear AR (ridge {best[1].ridge:g})": best[1].predict,
    }


def evaluate_test(config: Config, data: dict, params, model: SequenceModel, run_dir: Path) -> dict:
    """One-window and recursive test MSEs of the model and the baselines; figures."""
    d, e = config.data, config.eval
    _, _, predict = make_fns(model)
    test = data["test"]
    methods = fit_baselines(data, config)
    flat = test["x"].reshape(len(test["x"]), -1)
    one = {"model": batched(lambda x: predict(params, x), test["x"])}
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
    recursive = make_recursive(model, e.recursive_windows)
    rec = {"model": np.asarray(recursive(params, jnp.asarray(window)))}
    rec.update(
        {name: recursive_baseline(fn, window, e.recursive_windows) for name, fn in methods.items()}
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


def train_and_evaluate(config: Config) -> dict:
    """Train the forecaster, pick the best checkpoint on validation, report the test segment."""
    if config.train.epochs < 1 or config.train.batch_size < 1:
        raise ValueError("--train.epochs and --train.batch-size must be positive")
    run_dir = rundir.prepare(
        config.workdir, EXPERIMENT, config, resume=config.resume, volatile=VOLATILE
    )
    data = prepare_data(config)
    model = build_model(config)
    loss_fn, eval_sums, _ = make_fns(model)
    n_train = len(data["train"]["x"])
    per_epoch = n_train // config.train.batch_size
    if per_epoch == 0:
        raise ValueError(f"--train.batch-size exceeds the {n_train} training windows")
    total = per_epoch * config.train.epochs
    t = config.train
    tx = t.optimizer(total)
    run = train_run(
        experiment=EXPERIMENT,
        run_dir=run_dir,
        resume=config.resume,
        init_params=lambda: model.init(jax.random.PRNGKey(config.seed)),
        loss_fn=loss_fn,
        tx=tx,
        train_arrays={"x": data["train"]["x"], "y": data["train"]["y"]},
        batch_size=t.batch_size,
        total_steps=total,
        seed=config.seed,
        devices=config.train.devices,
        evaluate=lambda p: {
            "val": train.evaluate(eval_sums, p, {k: data["val"][k] for k in "xy"}, 512)
        },
        eval_every=per_epoch,
        best_metric=BEST,
        best_mode="min",
        log_every=max(per_epoch // 2, 1),
    )
    plotting.plot_curves(run.dir, ["loss", "mse"], run.dir / "figures" / "curves.png")
    results = {
        "best_step": run.best_step,
        **evaluate_test(config, data, run.best_params, model, run.dir),
    }
    (run.dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    rundir.MetricsLog(run.dir / "metrics.jsonl").write(
        run.best_step, "test", {"mse": results["one_window_mse"]["model"]}
    )
    print_results(results, run.dir)
    return results


def print_results(results: dict, run_dir: Path) -> None:
    print(f"\ntest MSE (z-scored; x {results['train_std'] ** 2:.3g} for raw units):")
    print(
        f"  {'method':<32}{'one window':>12}{'recursive, all':>16}{'window 1':>10}{'window 25':>10}"
    )
    for name, mse in results["one_window_mse"].items():
        rec = results["recursive_mse_by_window"][name]
        print(f"  {name:<32}{mse:>12.4f}{np.mean(rec):>16.4f}{rec[0]:>10.4f}{rec[-1]:>10.4f}")
    print(f"figures in {run_dir / 'figures'}")


def main(args: list[str] | None = None) -> None:
    cli.run(Config, train_and_evaluate, args)


if __name__ == "__main__":
    main()
