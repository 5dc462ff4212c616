"""rnn_jax.evaluation.faults: the --detect recordings are read (and checked) before any work;
the detection itself runs in the signal_forecast CLI test."""

import numpy as np
import pytest
from scipy.io import savemat

from rnn_jax.data import signals
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import faults


def test_recordings_are_read_at_the_model_rate_or_refused(tmp_path):
    x = np.arange(4000, dtype=np.float32)
    savemat(tmp_path / "rig.mat", {"X105_DE_time": x[:, None], "X105_FE_time": -x[:, None]})
    got = faults.load_recordings(
        (f"{tmp_path / 'rig.mat'}:X105_FE_time",), (), 12000.0, resample=False
    )
    np.testing.assert_array_equal(got["rig"], -x)
    with pytest.raises(signals.SignalError, match="several arrays"):
        faults.load_recordings((str(tmp_path / "rig.mat"),), (), 12000.0, resample=False)
    with pytest.raises(ConfigError, match="gives 2 rates for 1 --detect recordings"):
        faults.load_recordings((str(tmp_path / "rig.mat"),), (1.0, 2.0), 12000.0, resample=False)
    with pytest.raises(signals.SignalError, match="sampled at 24000 Hz but the model at 12000 Hz"):
        faults.load_recordings(
            (f"{tmp_path / 'rig.mat'}:X105_DE_time",), (24000.0,), 12000.0, resample=False
        )
    half = faults.load_recordings(
        (f"{tmp_path / 'rig.mat'}:X105_DE_time",), (24000.0,), 12000.0, resample=True
    )
    assert len(half["rig"]) == 2000


def test_window_ends_are_the_targets_last_samples():
    w = faults.Windows(steps=2, features=3, stride=4, rate=10.0)
    np.testing.assert_allclose(w.end_seconds(3), [0.9, 1.3, 1.7])
