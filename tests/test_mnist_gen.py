"""experiments.mnist_gen: data construction, rollouts, CLI, and a real-MNIST run (slow)."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments
from experiments import mnist_gen as mg
from rnn_jax.data import mnist
from rnn_jax.errors import ConfigError
from rnn_jax.training import shipped

REPO = Path(__file__).resolve().parents[1]


def small_completer(mode):
    config = mg.Config(mode=mode, model=mg.ModelConfig(hidden=(6, 5), head=(7,)))
    completer = mg.Completer(config)
    params = completer.model.init(jax.random.PRNGKey(0))
    return completer, params


def test_windows_match_course_indexing():
    images = jnp.arange(3 * 28 * 28, dtype=jnp.float32).reshape(3, 28, 28)
    for i in range(14):
        x, y = mg.take_windows(images, jnp.full((3,), i))
        assert x.shape == (3, 14, 28) and y.shape == (3, 28)
        np.testing.assert_array_equal(x, images[:, i : i + 14])
        np.testing.assert_array_equal(y, images[:, i + 14])
    x, y = mg.take_windows(images, jnp.array([0, 5, 13]))
    np.testing.assert_array_equal(x[1], images[1, 5:19])
    np.testing.assert_array_equal(y[2], images[2, 27])


@pytest.mark.slow
def test_teacher_model_is_causal():
    """The prediction of row t+1 has zero gradient with respect to rows after t."""
    completer, params = small_completer("teacher")
    xs = jax.random.uniform(jax.random.key(1), (1, 27, 28))
    t = 10
    grad = jax.grad(lambda x: completer.model.apply_seq(params, x)[0, t].sum())(xs)
    assert float(jnp.abs(grad[:, t + 1 :]).max()) == 0.0
    assert float(jnp.abs(grad[:, : t + 1]).max()) > 0.0


@pytest.mark.parametrize(
    "mode", [pytest.param(m, marks=pytest.mark.slow) if m != "teacher" else m for m in mg.MODES]
)
def test_completions_keep_the_top_and_stay_in_range(mode):
    completer, params = small_completer(mode)
    top = jax.random.uniform(jax.random.key(2), (3, 14, 28))
    got = completer.complete(params, top)
    assert got.shape == (3, 28, 28)
    assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0
    np.testing.assert_array_equal(got[:, :14], top)


def test_bad_mode_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown --mode 'sliding'"):
        mg.Completer(mg.Config(mode="sliding"))


@pytest.mark.slow
def test_cli_tiny_run_then_generate_from_it(tmp_path, run_cli):
    run = tmp_path / "gen"
    out = run_cli(
        "--synthetic",
        "160",
        "--train.steps",
        "20",
        "--train.eval-every",
        "10",
        "--train.batch-size",
        "16",
        "--model.hidden",
        "8",
        "8",
        "--workdir",
        str(run),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(d) mean of 10 nearest" in out.stdout
    first = json.loads((run / "results.json").read_text())
    assert (run / "figures" / "completions.png").stat().st_size > 1000
    assert (run / "figures" / "curves.png").is_file()

    again = run_cli("--from", str(run), "--generate")  # into a new folder of the run's
    assert again.returncode == 0, again.stderr[-2000:]
    (report,) = (run / "reports").iterdir()
    second = json.loads((report / "results.json").read_text())
    assert json.loads((run / "results.json").read_text()) == first
    assert second["test_bottom_mse"]["model"] == pytest.approx(first["test_bottom_mse"]["model"])

    gen = experiments.load(run)
    images, _ = mnist.synthetic(4, seed=5)
    done = gen.predict(images[:, :14])
    assert done.shape == (4, 28, 28)
    with pytest.raises(ValueError, match=r"expected top halves \[N, 14, 28\]"):
        gen.predict(images)


@pytest.mark.slow
def test_cli_bad_from_paths_are_clear_errors(tmp_path, run_cli):
    out = run_cli("--from", str(tmp_path / "nope"), "--generate")
    assert out.returncode == 2 and "not a run directory" in out.stderr
    other = tmp_path / "cls"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"experiment": "mnist_classifier", "config": {}}))
    out = run_cli("--from", str(other), "--generate")
    assert out.returncode == 2 and "'mnist_classifier', not 'mnist_gen'" in out.stderr
    out = run_cli("--generate")
    assert out.returncode == 2 and "--generate needs --from RUN_DIR" in out.stderr


@pytest.mark.slow
def test_real_mnist_short_run_beats_mean_baseline(tmp_path, tfds_dir, run_cli, mnist_dir):
    out = run_cli(
        "--data-dir",
        str(mnist_dir),
        "--train.steps",
        "300",
        "--train.eval-every",
        "300",
        "--model.hidden",
        "64",
        "64",
        "--workdir",
        str(tmp_path / "run"),
        env={"TFDS_DATA_DIR": str(tfds_dir)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    table = json.loads((tmp_path / "run" / "results.json").read_text())["test_bottom_mse"]
    assert table["model"] < table["(a) mean training bottom half"]


@pytest.mark.slow
def test_pretrained_generates_without_training(tmp_path, tfds_dir, run_cli, mnist_dir):
    out = run_cli(
        "--pretrained", "--classifier", "pretrained", "--data-dir", str(mnist_dir),
        "--workdir", str(tmp_path / "pre"), env={"TFDS_DATA_DIR": str(tfds_dir)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "mnist_gen:" not in out.stderr  # no training progress bar
    results = json.loads((tmp_path / "pre" / "results.json").read_text())
    card = shipped.card("mnist_gen")
    assert results["best_step"] == card["step"]
    assert results["test_bottom_mse"]["model"] == pytest.approx(card["test"]["gen_mse"], rel=1e-3)
    accuracy = results["classifier_accuracy"]
    assert accuracy["real top + generated bottom"] > 0.9 and accuracy["real images"] > 0.99
    assert (tmp_path / "pre" / "figures" / "completions.png").stat().st_size > 1000
