"""1-D signals for forecasting: file loading, a synthetic rotating machine, windows, splits.

The window geometry is the course's: an input of ``steps x features``
consecutive samples (25 x 100 = 2,500) and a target of the next ``features``
samples (100); window ``i`` starts at sample ``stride * i``.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_jax.errors import UserError

FORMATS = (".npy", ".csv", ".txt", ".mat")  # never pickle: opening one can run code


class SignalError(UserError, ValueError):
    """A signal file that cannot be used, with what to do about it."""


def load_signal(path: str | Path, variable: str | None = None) -> np.ndarray:
    """A 1-D float32 signal from ``.npy``, ``.csv``/``.txt`` or ``.mat``.

    Each format is parsed by its library, never by ``pickle`` (a pickled file can
    run code when it is opened): ``.npy`` files that hold Python objects are refused.

    Args:
      path: the file.
      variable: the variable to read from a ``.mat`` file (e.g. ``X097_DE_time``);
        optional when the file holds exactly one numeric array.

    Raises:
      SignalError: missing file, unknown or unsafe format, a file its format's parser
        cannot read, missing ``.mat`` variable, an array that is not 1-D (a single row
        or column is accepted), or NaN/Inf.
    """
    path = Path(path)
    if not path.is_file():
        raise SignalError(f"signal file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle"):
        raise SignalError(
            f"{path} is a pickle, which can run code when opened, so it is not read; convert it "
            "once where you trust it (np.save('signal.npy', np.asarray(pickle.load(f)))) and "
            "pass the .npy"
        )
    if suffix not in FORMATS:
        raise SignalError(f"unknown signal format {suffix!r} of {path}; use one of {FORMATS}")
    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif suffix in (".csv", ".txt"):
            data = np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=1)
        else:
            data = _load_mat(path, variable)
    except SignalError:
        raise
    except Exception as err:  # each parser has its own errors; all mean "not this format"
        expected = {
            ".npy": "a NumPy .npy array of numbers (np.save)",
            ".csv": "numbers separated by commas",
            ".txt": "numbers separated by spaces",
            ".mat": "a MATLAB .mat file",
        }[suffix]
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SignalError(f"{path} cannot be read as {expected} ({reason})") from err
    data = np.asarray(data)
    if data.ndim == 2 and 1 in data.shape:
        data = data.reshape(-1)
    if data.ndim != 1:
        raise SignalError(
            f"{path} holds an array of shape {data.shape}; a 1-D signal is needed (select one "
            "channel, e.g. np.save(out, x[:, 0]))"
        )
    if not np.issubdtype(data.dtype, np.number):
        raise SignalError(f"{path} holds {data.dtype} values, not numbers")
    data = data.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(data))
    if bad.size:
        raise SignalError(
            f"{path} has {bad.size} NaN or infinite values (first at sample {bad[0]}); "
            "clean or interpolate them first"
        )
    return data


def _load_mat(path: Path, variable: str | None) -> np.ndarray:
    from scipy.io import loadmat

    mat = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    numeric = sorted(k for k, v in mat.items() if isinstance(v, np.ndarray) and v.size > 1)
    if variable is None:
        if len(numeric) != 1:
            raise SignalError(
                f"{path} holds several arrays {numeric}; name one (--data.variable, or "
                "--detect FILE.mat:VARIABLE)"
            )
        variable = numeric[0]
    if variable not in mat:
        raise SignalError(f"{path} has no variable {variable!r}; it holds {numeric}")
    return mat[variable]


@dataclass(frozen=True)
class Machine:
    """Parameters of the synthetic rotating-machine accelerometer signal.

    Attributes:
      fs: sample rate (Hz).
      rpm: shaft speed; 1797 rpm is 29.95 Hz, about 400 samples per turn at 12 kHz.
      harmonics: amplitudes of the shaft's 1x, 2x, 3x ... components (1x: imbalance).
      fault_order: bearing defect frequency as a multiple of shaft speed (inner race
        5.4152 for the SKF 6205 of the CWRU rig).
      impulse: amplitude of each defect impact.
      resonance_hz: structural resonance the impacts excite.
      decay_s: time constant of the resonance's decay.
      noise: standard deviation of white measurement noise.
    """

    fs: float = 12_000.0
    rpm: float = 1797.0
    harmonics: tuple[float, ...] = (0.05, 0.02, 0.01)
    fault_order: float = 5.4152
    impulse: float = 0.25
    resonance_hz: float = 3_000.0
    decay_s: float = 0.0015
    noise: float = 0.01


def synthetic_vibration(n: int, machine: Machine = Machine(), seed: int = 0) -> np.ndarray:
    """``n`` float32 samples: shaft harmonics + defect impacts ringing a resonance + noise.

    Deterministic per ``seed`` (random phases, slight jitter of the impact times).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) / machine.fs
    shaft_hz = machine.rpm / 60.0
    x = np.zeros(n)
    for k, amp in enumerate(machine.harmonics, start=1):
        x += amp * np.sin(2 * np.pi * k * shaft_hz * t + rng.uniform(0, 2 * np.pi))
    # Impacts at the defect frequency, with 1% jitter (rolling elements slip).
    period = machine.fs / (machine.fault_order * shaft_hz)
    impacts = np.zeros(n)
    hits = np.arange(rng.uniform(0, period), n, period)
    hits = np.round(hits + rng.normal(0, 0.01 * period, hits.shape)).astype(int)
    impacts[hits[(hits >= 0) & (hits < n)]] = machine.impulse
    ring_t = np.arange(int(8 * machine.decay_s * machine.fs)) / machine.fs
    ring = np.exp(-ring_t / machine.decay_s) * np.sin(2 * np.pi * machine.resonance_hz * ring_t)
    x += np.convolve(impacts, ring)[:n]
    x += machine.noise * rng.normal(size=n)
    return x.astype(np.float32)


def num_windows(length: int, steps: int, features: int, stride: int) -> int:
    """How many (input, target) windows fit in ``length`` samples."""
    need = (steps + 1) * features
    return 0 if length < need else (length - need) // stride + 1


def windows(
    signal: np.ndarray, steps: int = 25, features: int = 100, stride: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """All windows of a signal: ``x[i] = s[stride*i : stride*i + steps*features]`` as
    ``[steps, features]`` and ``y[i]`` the next ``features`` samples.

    Raises:
      SignalError: if the signal is too short for one window plus its target.
    """
    n = num_windows(len(signal), steps, features, stride)
    if n == 0:
        raise SignalError(
            f"signal of {len(signal)} samples is too short for one window of {steps} x "
            f"{features} samples plus a {features}-sample target ({(steps + 1) * features} needed)"
        )
    idx = stride * np.arange(n)[:, None] + np.arange((steps + 1) * features)[None, :]
    chunk = signal[idx]
    return chunk[:, : steps * features].reshape(n, steps, features), chunk[:, steps * features :]


def split_in_time(
    signal: np.ndarray, fractions: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive train / validation / test segments; windows cut inside each never overlap."""
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise SignalError(
            f"split fractions must be three positive numbers summing to 1: {fractions}"
        )
    a = int(len(signal) * fractions[0])
    b = a + int(len(signal) * fractions[1])
    return signal[:a], signal[a:b], signal[b:]


def segment_windows(
    signal: np.ndarray, split: tuple[float, float, float], steps: int, features: int, stride: int
) -> dict:
    """``signal`` split in time into train, validation and test segments, z-scored by the
    training segment's ``mean`` and ``std``, and each cut into forecasting windows (never
    across a boundary): ``{"mean", "std", split: {"x", "y", "signal"}}``.

    Raises:
      SignalError: a constant training segment, or a segment too short for a window.
    """
    segments = split_in_time(signal, split)
    mean, std = float(segments[0].mean()), float(segments[0].std())
    if std == 0:
        raise SignalError("the training segment is constant; nothing to learn")
    out = {"mean": mean, "std": std}
    for name, seg in zip(("train", "val", "test"), segments):
        z = (seg - mean) / std
        try:
            x, y = windows(z, steps, features, stride)
        except SignalError as err:
            raise SignalError(f"{name} segment ({len(seg)} samples): {err}") from None
        out[name] = {"x": x, "y": y, "signal": z}
    return out
