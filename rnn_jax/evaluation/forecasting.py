"""A window forecaster's test figures against baselines (:mod:`experiments.signal_forecast`):
the MSE of the next window after each test window, and of windows generated recursively
(each prediction appended as the newest step), by horizon; figures and a table."""

from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnn_jax import plotting
from rnn_jax.data import signals
from rnn_jax.evaluation import baselines


def evaluate(
    model: Callable[[np.ndarray], np.ndarray],
    model_recursive: Callable[[np.ndarray, int], np.ndarray],
    methods: dict[str, Callable[[np.ndarray], np.ndarray]],
    test: dict[str, np.ndarray],
    *,
    windows: int,
    every: int,
    figures: Path,
) -> dict:
    """Test MSEs of the model and the baselines.

    Args:
      model: windows ``x [N, S, F]`` -> the next samples ``[N, F]``.
      model_recursive: ``(x [N, S, F], n) -> [N, n, F]``, ``n`` windows generated
        recursively.
      methods: baselines, flat windows ``[N, S*F] -> [N, F]``.
      test: the test segment's windows ``x``, ``y`` and its whole (z-scored) ``signal``.
      windows: windows generated recursively.
      every: samples between the starts of the recursive forecasts.
      figures: the folder the three figures go to.
    """
    x, y, z = test["x"], test["y"], test["signal"]
    steps, features = x.shape[1:]
    one = {"model": model(x), **{name: fn(x.reshape(len(x), -1)) for name, fn in methods.items()}}
    one_mse = {name: float(np.mean((p - y) ** 2)) for name, p in one.items()}

    # Recursive: inputs whose next windows * features samples all lie in the test segment.
    length = steps * features
    span = length + windows * features
    if len(z) < span:
        raise signals.SignalError(
            f"test segment of {len(z)} samples is too short for a {windows}-window "
            f"recursive forecast ({span} samples); lower --eval.recursive-windows"
        )
    starts = np.arange(0, len(z) - span + 1, every)
    window = np.stack([z[s : s + length] for s in starts]).reshape(-1, steps, features)
    truth = np.stack([z[s + length : s + span] for s in starts]).reshape(-1, windows, features)
    rec = {"model": np.asarray(model_recursive(window, windows))}
    rec.update({name: baselines.recursive(fn, window, windows) for name, fn in methods.items()})
    by_horizon = {name: np.mean((p - truth) ** 2, axis=(0, 2)).tolist() for name, p in rec.items()}

    context = np.arange(-3 * features, 0)
    plotting.plot_forecast(
        context,
        x[0].reshape(-1)[-3 * features :],
        y[0],
        {name: p[0] for name, p in one.items()},
        figures / "one_window.png",
        title=f"Next {features} samples after a test window",
    )
    plotting.plot_forecast(
        context,
        window[0].reshape(-1)[-3 * features :],
        truth[0].reshape(-1),
        {"model": rec["model"][0].reshape(-1)},
        figures / "recursive.png",
        title=f"Recursive forecast, {windows} windows",
    )
    plotting.plot_line(
        range(1, windows + 1),
        by_horizon,
        figures / "error_vs_horizon.png",
        xlabel=f"window ahead (x {features} samples)",
        ylabel="MSE (z-scored)",
        title="Recursive forecast error",
        logy=True,
    )
    return {
        "one_window_mse": one_mse,
        "recursive_mse_by_window": by_horizon,
        "n_test_windows": len(x),
        "n_recursive_starts": len(starts),
    }


def summary(results: dict, figures: Path) -> str:
    """The table of :func:`evaluate`'s results (``train_std``: the z-scoring's std)."""
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
    return "\n".join([*lines, f"figures in {figures}"])
