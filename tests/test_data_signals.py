"""Signal loading (every format, every bad input), the synthetic machine, windows, splits."""

import pickle

import numpy as np
import pytest
from scipy.io import savemat

from rnn_jax.data import signals
from rnn_jax.data.signals import SignalError


@pytest.fixture
def wave():
    return np.sin(np.arange(500) / 7.0).astype(np.float32)


def test_each_format_loads_the_same_signal(tmp_path, wave):
    np.save(tmp_path / "s.npy", wave)
    np.savetxt(tmp_path / "s.csv", wave[:, None], delimiter=",")
    np.savetxt(tmp_path / "s.txt", wave)
    savemat(tmp_path / "s.mat", {"X097_DE_time": wave[:, None].astype(np.float64), "RPM": 1796})
    for name in ("s.npy", "s.csv", "s.txt"):
        got = signals.load_signal(tmp_path / name)
        assert got.dtype == np.float32 and got.shape == (500,)
        np.testing.assert_allclose(got, wave, rtol=1e-6, atol=1e-6)
    got = signals.load_signal(tmp_path / "s.mat", "X097_DE_time")
    np.testing.assert_allclose(got, wave, rtol=1e-6)


class RunsCode:
    def __reduce__(self):  # unpickling this would run os.system
        import os

        return os.system, ("touch ran",)


def test_no_data_file_can_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.pkl").write_bytes(pickle.dumps(RunsCode()))
    np.save(tmp_path / "s.npy", np.array([RunsCode()], dtype=object), allow_pickle=True)
    with pytest.raises(SignalError, match="is a pickle, which can run code"):
        signals.load_signal(tmp_path / "s.pkl")
    with pytest.raises(SignalError, match="cannot be read as a NumPy .npy array"):
        signals.load_signal(tmp_path / "s.npy")
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("text.npy", b"1,2,3\n", "cannot be read as a NumPy .npy array"),
        ("empty.npy", b"", "cannot be read as a NumPy .npy array"),
        ("words.csv", b"a,b\nc,d\n", "cannot be read as numbers separated by commas"),
        ("junk.mat", b"not matlab", "cannot be read as a MATLAB .mat file"),
    ],
)
def test_files_their_parser_cannot_read_are_one_clear_error(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SignalError, match=message) as err:
        signals.load_signal(tmp_path / name)
    assert "\n" not in str(err.value) and name in str(err.value)


def test_a_truncated_npy_is_one_clear_error(tmp_path, wave):
    np.save(tmp_path / "s.npy", wave)
    data = (tmp_path / "s.npy").read_bytes()
    (tmp_path / "s.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(SignalError, match="cannot be read as a NumPy .npy array"):
        signals.load_signal(tmp_path / "s.npy")


def test_bad_inputs_raise_clear_errors(tmp_path, wave):
    with pytest.raises(SignalError, match="does not exist"):
        signals.load_signal(tmp_path / "missing.npy")
    (tmp_path / "s.wav").write_bytes(b"RIFF")
    with pytest.raises(SignalError, match=r"unknown signal format '.wav'.*\.npy"):
        signals.load_signal(tmp_path / "s.wav")
    np.save(tmp_path / "two.npy", np.zeros((50, 3), np.float32))
    with pytest.raises(SignalError, match=r"shape \(50, 3\); a 1-D signal is needed"):
        signals.load_signal(tmp_path / "two.npy")
    savemat(tmp_path / "m.mat", {"a": wave, "b": wave})
    with pytest.raises(SignalError, match=r"no variable 'X097_DE_time'; it holds \['a', 'b'\]"):
        signals.load_signal(tmp_path / "m.mat", "X097_DE_time")
    with pytest.raises(SignalError, match="several arrays"):
        signals.load_signal(tmp_path / "m.mat")
    bad = wave.copy()
    bad[42] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(SignalError, match="1 NaN or infinite values .first at sample 42"):
        signals.load_signal(tmp_path / "nan.npy")
    with pytest.raises(SignalError, match="too short for one window of 25 x 100"):
        signals.windows(wave)


def test_windows_reproduce_the_course_indexing():
    data = np.arange(4000, dtype=np.float32)
    x, y = signals.windows(data, steps=25, features=100, stride=5)
    assert x.shape[1:] == (25, 100) and y.shape[1:] == (100,)
    assert len(x) == (4000 - 2600) // 5 + 1
    for i in (0, 1, 17, len(x) - 1):
        np.testing.assert_array_equal(x[i], data[5 * i : 5 * i + 2500].reshape(25, 100))
        np.testing.assert_array_equal(y[i], data[5 * i + 2500 : 5 * i + 2600])


def test_test_windows_never_touch_training_samples():
    data = np.arange(20000, dtype=np.float32)
    train, val, test = signals.split_in_time(data, (0.7, 0.15, 0.15))
    assert len(train) + len(val) + len(test) == len(data)
    xt, yt = signals.windows(test, 2, 10, 3)
    assert min(xt.min(), yt.min()) > train.max() and min(xt.min(), yt.min()) > val.max()
    with pytest.raises(SignalError, match="three positive numbers summing to 1"):
        signals.split_in_time(data, (0.5, 0.5, 0.5))


def test_synthetic_machine_is_deterministic_per_seed():
    a = signals.synthetic_vibration(5000, seed=3)
    np.testing.assert_array_equal(a, signals.synthetic_vibration(5000, seed=3))
    assert not np.array_equal(a, signals.synthetic_vibration(5000, seed=4))
    assert a.dtype == np.float32 and np.isfinite(a).all()
    # The defect impacts show up as the envelope's dominant line near 5.4 x shaft speed.
    m = signals.Machine()
    env = np.abs(signals.synthetic_vibration(2**16, m, seed=0))
    spec = np.abs(np.fft.rfft(env - env.mean()))
    freqs = np.fft.rfftfreq(len(env), 1 / m.fs)
    peak = freqs[np.argmax(spec[freqs > 20]) + np.sum(freqs <= 20)]
    assert peak == pytest.approx(m.fault_order * m.rpm / 60, rel=0.02)


def test_real_recording_loads(vibration_dir):
    x = signals.load_signal(vibration_dir / "cwru_normal_0hp_de_12k_decim4.npy")
    assert x.shape == (60985,) and float(x.std()) == pytest.approx(0.0708, abs=1e-3)
