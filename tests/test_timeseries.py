"""experiments.timeseries: data construction, per-step projection, generator, a tiny run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import timeseries as ts
from rnn_jax.training import rundir


def test_windows_are_the_series_and_targets_are_one_step_ahead():
    x, y = ts.random_windows(50, 20, (0.0, 24.0), seed=0)
    assert x.shape == y.shape == (50, 20, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    # Every window lies on the curve at steps of 0.1 (recover t0 from a brute-force grid).
    grid = np.arange(0.0, 24.0, 0.001)
    t0 = grid[np.argmin(np.abs(ts.series(grid[:, None] + 0.1 * np.arange(3)) - x[0, :3, 0]).sum(1))]
    np.testing.assert_allclose(x[0, :, 0], ts.series(t0 + 0.1 * np.arange(20)), atol=0.05)


def test_windows_stay_inside_their_split():
    lo, hi = ts.SPLITS["val"]
    x, _ = ts.random_windows(200, 20, (lo, hi), seed=1)
    t0 = np.random.default_rng(1).uniform(lo, hi - 2.1, size=(200, 1))
    assert t0.min() >= lo and (t0 + 2.1).max() <= hi
    np.testing.assert_allclose(x[:, 0, 0], ts.series(t0[:, 0]), rtol=1e-5, atol=1e-5)


def test_projection_at_every_step():
    model = ts.build_model(ts.Config(model=ts.ModelConfig(hidden=(6, 6))))
    params = model.init(jax.random.PRNGKey(0))
    seed = jnp.asarray(ts.series(np.arange(20) * 0.1).astype(np.float32)[None, :, None])
    out = model.apply_seq(params, seed)
    assert out.shape == (1, 20, 1)
    assert ts.make_generator(model, 7)(params, seed).shape == (1, 7, 1)


@pytest.mark.slow
def test_tiny_run_lowers_validation_mse(tmp_path):
    config = ts.Config(
        train=ts.TrainConfig(steps=200, windows=2000),
        model=ts.ModelConfig(hidden=(32,)),
        generate=30,
    )
    results = ts.EXPERIMENT.train_and_evaluate(
        config, ts.experiment.RunOptions(str(tmp_path / "run"))
    )
    rows = [r for r in rundir.read_metrics(tmp_path / "run") if r["split"] == "val"]
    assert rows[-1]["value"] < 0.5 * rows[0]["value"]
    assert np.isfinite(results["test_window_mse"])
    for name in ("prediction.png", "generated.png", "curves.png"):
        assert (tmp_path / "run" / "figures" / name).is_file()
