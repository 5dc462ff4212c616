"""experiments.signal_forecast: recursive generation, a tiny CLI run, bad input."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from experiments import signal_forecast as sf
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation import baselines, faults, forecasting
from rnn_jax.training import checks


@pytest.mark.slow
def test_baselines_recursive_loop_equals_the_model_rollout():
    """The numpy loop that runs the baselines recursively agrees with the model's rollout."""
    config = sf.Config(
        data=sf.DataConfig(steps=4, features=6), model=sf.ModelConfig(hidden=(5, 5), head=(7,))
    )
    highway = sf.build_model(config)
    course = dataclasses.replace(highway, highway=False)
    params = course.init(jax.random.PRNGKey(0))
    ar = baselines.LinearAR(1e-2).fit(np.eye(24, dtype=np.float32), np.ones((24, 6), np.float32))
    on_ar = highway.init(jax.random.PRNGKey(0), ar.w)
    on_ar["net"] = params  # a network that is not zero
    window = jax.random.normal(jax.random.key(1), (3, 4, 6))
    for model, p in ((course, params), (highway, on_ar)):
        got = sf.recursive(model, p, window, 5)
        base = baselines.recursive(
            lambda x: np.asarray(model.apply(p, x.reshape(-1, 4, 6))), np.asarray(window), 5
        )
        np.testing.assert_allclose(base, got, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_the_highway_is_the_ar_model_until_its_network_speaks():
    config = sf.Config(data=sf.DataConfig(synthetic_samples=12000, steps=4, features=10))
    data = sf.prepare_data(config)
    model = sf.build_model(config)
    params = model.init(jax.random.PRNGKey(0), data["ar"].w)
    _, _, predict = sf.make_fns(model)
    x = data["test"]["x"][:16]
    want = data["ar"].predict(x.reshape(len(x), -1))
    np.testing.assert_allclose(predict(params, x), want, rtol=1e-4, atol=1e-5)
    # A network that does speak adds its output to the AR forecast.
    params["net"]["head"][-1]["b"] = params["net"]["head"][-1]["b"] + 0.5
    np.testing.assert_allclose(predict(params, x), want + 0.5, rtol=1e-4, atol=1e-5)
    # The AR part stays as least squares fitted it: Adam sees no gradient for it.
    loss_fn, _, _ = sf.make_fns(model)
    grads = jax.grad(lambda p: loss_fn(p, {"x": x, "y": data["test"]["y"][:16]}, None)[0])(params)
    assert not np.any(grads["ar"]["w"]) and np.any(grads["net"]["head"][-1]["w"])


def test_the_rate_must_be_positive():
    with pytest.raises(ConfigError, match="--data.rate must be > 0, got 0"):
        checks.validate(sf.Config(data=sf.DataConfig(rate=0)))


def test_an_unknown_arch_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"--model.arch must be one of \('highway', 'course'\)"):
        checks.validate(sf.Config(model=sf.ModelConfig(arch="lstnet")))


def test_normalisation_uses_the_training_segment_only():
    config = sf.Config(data=sf.DataConfig(synthetic_samples=12000, steps=4, features=10))
    data = sf.prepare_data(config)
    raw = sf.signals.synthetic_vibration(12000, seed=0)
    train, _, test = sf.signals.split_in_time(raw, config.data.split)
    assert data["mean"] == float(train.mean()) and data["std"] == float(train.std())
    np.testing.assert_allclose(
        data["test"]["signal"], (test - train.mean()) / train.std(), rtol=1e-5
    )


@pytest.mark.slow
def test_cli_tiny_runs_forecast_and_detect(tmp_path, run_cli, capsys):
    """Training with --detect, then --from the trained run: a recording at another rate is an
    error until --resample."""
    fault = sf.signals.synthetic_vibration(6000, sf.signals.Machine(impulse=1.0), seed=3)
    np.save(tmp_path / "fault.npy", fault)
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
        "--detect",
        str(tmp_path / "fault.npy"),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads((run / "results.json").read_text())
    assert set(results["one_window_mse"]) >= {"model", "persistence"}
    assert len(results["recursive_mse_by_window"]["model"]) == 3
    for name in ("one_window.png", "recursive.png", "error_vs_horizon.png", "curves.png"):
        assert (run / "figures" / name).stat().st_size > 1000
    detect = results["detect"]
    for scaling in faults.SCALINGS:
        assert set(detect[scaling]) == {"model", "linear AR residual", "energy (zero forecast)"}
        assert 0 <= detect[scaling]["model"]["recordings"]["fault"]["roc_auc"] <= 1
    assert (run / "figures" / "detect_scores.png").stat().st_size > 1000
    assert "fault detection" in out.stdout

    again = ["--from", str(run), "--detect", str(tmp_path / "fault.npy"), "--detect-rate", "24000"]
    with pytest.raises(SystemExit) as stop:
        sf.EXPERIMENT.main(again)
    assert stop.value.code == 2
    assert "is sampled at 24000 Hz but the model at 12000 Hz; pass --resample" in (
        capsys.readouterr().err
    )
    sf.EXPERIMENT.main([*again, "--resample", "--workdir", str(tmp_path / "report")])
    detect = json.loads((tmp_path / "report" / "results.json").read_text())["detect"]
    assert "fault" in detect["own scale"]["model"]["recordings"]


@pytest.mark.slow
def test_cli_bad_signal_files(tmp_path, run_cli):
    out = run_cli("--data.path", str(tmp_path / "none.npy"), "--workdir", str(tmp_path / "a"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    np.save(tmp_path / "short.npy", np.zeros(3000, np.float32) + np.arange(3000))
    out = run_cli("--data.path", str(tmp_path / "short.npy"), "--workdir", str(tmp_path / "b"))
    assert out.returncode == 2 and "too short for one window" in out.stderr


def test_the_forecaster_starts_from_its_ar_model_and_loads_without_data(key):
    highway = sf.build_model(sf.Config(data=sf.DataConfig(steps=3, features=4)))
    shapes = jax.eval_shape(highway.init, key)  # what a loader checks saved params against
    assert shapes["ar"]["w"].shape == (12, 4) and shapes["ar"]["b"].shape == (4,)
    course = dataclasses.replace(highway, highway=False)
    assert "ar" not in jax.eval_shape(course.init, key)


def test_the_test_report_scores_every_method_one_window_and_recursively(tmp_path):
    z = np.sin(np.arange(400) / 5.0).astype(np.float32)
    x, y = sf.signals.windows(z[:300], 4, 5, 5)
    zeros = lambda w: np.zeros((len(w), 5), np.float32)  # noqa: E731
    results = forecasting.evaluate(
        zeros,
        lambda w, n: np.zeros((len(w), n, 5), np.float32),
        {"persistence": lambda flat: np.repeat(flat[:, -1:], 5, axis=1)},
        {"x": x, "y": y, "signal": z},
        windows=3,
        every=50,
        figures=tmp_path,
    )
    assert set(results["one_window_mse"]) == {"model", "persistence"}
    assert results["one_window_mse"]["model"] == pytest.approx(float(np.mean(y**2)))
    assert len(results["recursive_mse_by_window"]["persistence"]) == 3
    assert (tmp_path / "error_vs_horizon.png").is_file()
