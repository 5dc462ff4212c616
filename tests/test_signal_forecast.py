"""experiments.signal_forecast: recursive generation, a tiny CLI run, bad input."""

import json

import jax
import numpy as np

from experiments import signal_forecast as sf
from rnn_jax import baselines, sample


def test_baselines_recursive_loop_equals_the_model_rollout():
    """The numpy loop that runs the baselines recursively agrees with the model's rollout."""
    config = sf.Config(
        data=sf.DataConfig(steps=4, features=6), model=sf.ModelConfig(hidden=(5, 5), head=(7,))
    )
    model = sf.build_model(config)
    params = model.init(jax.random.PRNGKey(0))
    window = jax.random.normal(jax.random.key(1), (3, 4, 6))
    got = sample.sliding_window(lambda w: model.apply_last(params, w), window, 5)
    base = baselines.recursive(
        lambda x: np.asarray(model.apply_last(params, x.reshape(-1, 4, 6))), np.asarray(window), 5
    )
    np.testing.assert_allclose(base, got, rtol=1e-5, atol=1e-6)


def test_normalisation_uses_the_training_segment_only():
    config = sf.Config(data=sf.DataConfig(synthetic_samples=12000, steps=4, features=10))
    data = sf.prepare_data(config)
    raw = sf.signals.synthetic_vibration(12000, seed=0)
    train, _, test = sf.signals.split_in_time(raw, config.data.split)
    assert data["mean"] == float(train.mean()) and data["std"] == float(train.std())
    np.testing.assert_allclose(
        data["test"]["signal"], (test - train.mean()) / train.std(), rtol=1e-5
    )


def test_cli_tiny_run(tmp_path, run_cli):
    run = tmp_path / "run"
    out = run_cli(
        "--data.synthetic-samples",
        "9000",
        "--data.steps",
        "5",
        "--data.features",
        "20",
        "--data.stride",
        "10",
        "--train.epochs",
        "1",
        "--model.hidden",
        "8",
        "8",
        "--eval.recursive-windows",
        "3",
        "--workdir",
        str(run),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads((run / "results.json").read_text())
    assert set(results["one_window_mse"]) >= {"model", "persistence"}
    assert len(results["recursive_mse_by_window"]["model"]) == 3
    for name in ("one_window.png", "recursive.png", "error_vs_horizon.png", "curves.png"):
        assert (run / "figures" / name).stat().st_size > 1000


def test_cli_bad_signal_files(tmp_path, run_cli):
    out = run_cli("--data.path", str(tmp_path / "none.npy"), "--workdir", str(tmp_path / "a"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    np.save(tmp_path / "short.npy", np.zeros(3000, np.float32) + np.arange(3000))
    out = run_cli("--data.path", str(tmp_path / "short.npy"), "--workdir", str(tmp_path / "b"))
    assert out.returncode == 2 and "too short for one window" in out.stderr
