"""experiments.mnist_gen: settings, CLI runs (regression and Bernoulli rows), loading."""

import json
from pathlib import Path

import numpy as np
import pytest

import experiments
from experiments import mnist_gen as mg
from rnn_jax.data import mnist
from rnn_jax.errors import ConfigError
from rnn_jax.training import checks, shipped

REPO = Path(__file__).resolve().parents[1]


def test_bad_settings_are_clear_errors():
    with pytest.raises(ConfigError, match=r"--mode must be one of \('teacher', 'window'\)"):
        checks.validate(mg.Config(mode="sliding"))
    with pytest.raises(ConfigError, match="bernoulli reads rows in --mode teacher only"):
        mg.build_completer(mg.Config(mode="window", model=mg.ModelConfig(output="bernoulli")))


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
    with pytest.raises(ValueError, match="regresses rows .*no distribution"):
        gen.sample(images[:, :14], n=2)


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


@pytest.mark.slow
def test_tiny_bernoulli_run_reports_nats_and_samples_by_seed(tmp_path):
    run = tmp_path / "bern"
    mg.EXPERIMENT.main(
        ["--synthetic", "300", "--train.val-size", "60", "--train.steps", "20",
         "--train.eval-every", "10", "--model.hidden", "8", "--model.output", "bernoulli",
         "--model.context", "8", "--model.made-hidden", "16", "--classifier", "pretrained",
         "--workdir", str(run)]
    )  # fmt: skip
    results = json.loads((run / "results.json").read_text())
    nll = results["test_bottom_nll"]
    assert set(nll) >= {"model", "(d) mean of 10 nearest"} and 0 < nll["model"] < 392 * 2
    assert set(results["test_bottom_mse"]) >= {"model (mean)", "model (sampled)"}
    assert results["val"]["val/nll"] > 0 and (run / "figures" / "samples.png").is_file()
    assert 0 < results["test_image_nll"] and len(results["ambiguous_tops"]) == 8
    assert sum(results["ambiguous_tops"][0]["samples_read_as"].values()) == 16
    assert (run / "figures" / "ambiguous.png").stat().st_size > 1000
    gen = experiments.load(run)
    top = mnist.synthetic(3, seed=1)[0][:, :14]
    a, b = gen.predict(top, how="sample", seed=5), gen.predict(top, how="sample", seed=5)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a[:, 14:])) <= {0.0, 1.0}
    assert not np.array_equal(a, gen.predict(top, how="sample", seed=6))
    drawn = gen.sample(top, n=4, temperature=0.8, seed=5)
    assert drawn.shape == (3, 4, 28, 28) and not np.array_equal(drawn[:, 0], drawn[:, 1])
    images = mnist.pixels(mnist.synthetic(3, seed=2)[0])
    whole, bottom = gen.log_prob(images, given=None), gen.log_prob(images)  # given: top
    assert np.all(whole < bottom) and np.all(bottom < 0)  # the top's nats come off
    row = np.zeros((28, 28), bool)
    row[:14], row[14, :5] = True, True  # given: a raster prefix ending inside a row
    assert np.all(gen.log_prob(images, given=row) > bottom)
    with pytest.raises(ValueError, match="every given pixel must come before every hidden one"):
        gen.log_prob(images, given="q2")
