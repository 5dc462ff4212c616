"""Fault detection on other recordings of a machine (``signal_forecast --detect``): each
recording read at the model's sample rate, cut into the forecaster's windows in two
scalings, scored by every predictor (:func:`rnn_jax.evaluation.detection.evaluate`), with
the first alarm in seconds, a figure of the scores over time and a printed table."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_jax import plotting
from rnn_jax.data import signals
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import baselines, detection

SCALINGS = {
    "healthy units": "each recording z-scored with the healthy training segment's mean and std",
    "own scale": "each recording z-scored with its own mean and std (blind to amplitude)",
}


@dataclass(frozen=True)
class Windows:
    """How the forecaster reads a signal: ``steps`` steps of ``features`` samples, a
    window every ``stride`` samples, at ``rate`` Hz."""

    steps: int
    features: int
    stride: int
    rate: float

    def end_seconds(self, n: int) -> np.ndarray:
        """When the target of each of the first ``n`` windows ends, in seconds."""
        return (self.stride * np.arange(n) + (self.steps + 1) * self.features) / self.rate


def load_recordings(
    specs: tuple[str, ...], rates: tuple[float, ...], rate: float, *, resample: bool
) -> dict[str, np.ndarray]:
    """The recordings ``specs`` (``FILE``, or ``FILE.mat:VARIABLE``) by name, each sampled at
    its ``rates`` entry (all at ``rate`` if ``rates`` is empty), at ``rate`` Hz.

    Raises:
      ConfigError: a number of rates that is not one per recording.
      SignalError: a file that cannot be read, or a rate mismatch without ``resample``.
    """
    rates = rates or (rate,) * len(specs)
    if len(rates) != len(specs):
        raise ConfigError(
            f"--detect-rate gives {len(rates)} rates for {len(specs)} --detect recordings; "
            "give one per recording, or none for --data.rate"
        )
    out = {}
    for spec, own in zip(specs, rates):
        path, variable = spec, None
        if ".mat:" in spec.lower():
            path, variable = spec.rsplit(":", 1)
        name = Path(path).stem
        signal = signals.load_signal(path, variable)
        out[name if name not in out else spec] = detection.match_rate(
            signal, own, rate, resample=resample, name=path
        )
    return out


def detect(
    model: Callable[[np.ndarray], np.ndarray],
    ar: baselines.LinearAR,
    segments: dict,
    recordings: dict[str, np.ndarray],
    windows: Windows,
    figure: Path,
) -> dict:
    """Fault scores of each recording's windows by the ``model`` (``x [n, S, F] -> [n, F]``),
    the residuals of the linear AR model ``ar`` and the window's energy, against the
    healthy validation and test windows of ``segments`` (:func:`rnn_jax.data.signals.
    segment_windows`), in both :data:`SCALINGS`; draws the model's scores over time in
    ``figure``."""
    predictors = {
        "model": model,
        "linear AR residual": lambda x: ar.predict(x.reshape(len(x), -1)),
        "energy (zero forecast)": lambda x: np.zeros((len(x), windows.features), np.float32),
    }
    healthy = tuple((segments[split]["x"], segments[split]["y"]) for split in ("val", "test"))
    normal = (segments["mean"], segments["std"])
    w = windows
    results, panels, thresholds = {}, {}, {}
    first = next(iter(predictors))
    for scaling in SCALINGS:
        cut = {}
        for name, signal in recordings.items():
            own = scaling == "own scale"
            mean, std = (signal.mean(), signal.std()) if own else normal
            try:
                cut[name] = signals.windows((signal - mean) / std, w.steps, w.features, w.stride)
            except signals.SignalError as err:
                raise signals.SignalError(f"--detect recording {name}: {err}") from None
        table, scores = detection.evaluate(predictors, *healthy, cut)
        for row in table.values():
            for rec in row["recordings"].values():
                alarm = rec["first_alarm"]
                rec["first_alarm_s"] = (
                    None if alarm is None else float(w.end_seconds(alarm + 1)[-1])
                )
        results[scaling] = table
        panel = f"{first}, {scaling}"
        panels[panel] = {name: (w.end_seconds(len(v)), v) for name, v in scores[first].items()}
        thresholds[panel] = table[first]["threshold"]
    plotting.plot_scores(panels, thresholds, figure, xlabel="time (s)")
    return {"scalings": SCALINGS, **results}


def summary(detected: dict) -> str:
    """The table of :func:`detect`'s results, one row per scaling, score and recording."""
    lines = [
        "\nfault detection (alarm threshold: 1% of healthy validation windows above it):",
        f"  {'scaling':<15}{'score':<24}{'recording':<36}{'ROC-AUC':>8}{'first alarm':>13}"
        f"{'healthy FA':>12}",
    ]
    for scaling in SCALINGS:
        for method, row in detected[scaling].items():
            for name, rec in row["recordings"].items():
                alarm = rec["first_alarm_s"]
                alarm = "never" if alarm is None else f"{alarm:.3f} s"
                lines.append(
                    f"  {scaling:<15}{method:<24}{name:<36}{rec['roc_auc']:>8.3f}{alarm:>13}"
                    f"{row['healthy_test_false_alarms']:>12.1%}"
                )
    return "\n".join(lines)
