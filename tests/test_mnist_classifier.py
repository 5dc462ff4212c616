"""experiments.mnist_classifier: synthetic runs, resume, loading, CLI, real MNIST (slow)."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments
from experiments import mnist_classifier as mc
from rnn_jax.data import mnist
from rnn_jax.training import batching, loading

REPO = Path(__file__).resolve().parents[1]


def tiny_config(**train_kw) -> mc.Config:
    return mc.Config(
        model=mc.ModelConfig(hidden=(16,), input_proj=8, dropout=0.0),
        # No shifts: a synthetic class is a bar at its own rows, so a shift changes the class.
        train=mc.TrainConfig(
            **{"epochs": 2, "batch_size": 32, "lr": 1e-2, "warmup_steps": 2, "shift": 0, **train_kw}
        ),
        synthetic=320,
    )


def opts(tmp_path, **kw) -> mc.Options:
    return mc.Options(workdir=str(tmp_path / "run"), **kw)


@pytest.mark.slow
def test_tiny_run_learns_and_leaves_its_artifacts(tmp_path):
    config = tiny_config(epochs=8)
    results = mc.EXPERIMENT.train_and_evaluate(
        config, opts(tmp_path, data_dir="/not/used/by/synthetic")
    )
    run = tmp_path / "run"
    assert results["val"]["val/accuracy"] > 0.5  # chance is 0.1; the bars are easy to tell apart
    assert len(results["curve"]["y"]) == 28
    for name in ("curves.png", "confusion.png", "accuracy_vs_rows.png"):
        assert (run / "figures" / name).stat().st_size > 1000
    saved = json.loads((run / "config.json").read_text())
    assert saved["experiment"] == "mnist_classifier" and saved["config"]["model"]["hidden"] == [16]
    assert saved["best"] == {"metric": "val/accuracy", "mode": "max"}
    # Run options are not settings: config.json holds exactly what determines the result.
    assert not {"workdir", "resume", "data_dir", "tensorboard"} & set(saved["config"])
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"train", "val", "test"} <= {r["split"] for r in rows}

    clf = experiments.load(run)
    data = mnist.splits(None, val_size=5000, seed=0, synthetic_size=320)
    acc = np.mean(clf.predict(data["val"]["image"]) == data["val"]["label"])
    assert acc == pytest.approx(results["val"]["val/accuracy"], abs=1e-6)
    with pytest.raises(ValueError, match=r"expected images \[N, 28, 28\]"):
        clf.predict(np.zeros((2, 27, 28)))


@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    config = tiny_config()
    mc.EXPERIMENT.train_and_evaluate(config, opts(tmp_path / "a"))
    per_epoch = 256 // 32  # 320 images less the 64 held out for validation

    original = batching.batches

    def interrupted(*args, **kw):
        for i, batch in enumerate(original(*args, **kw)):
            if i == per_epoch + 3:  # after the first checkpoint, mid-epoch
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(batching, "batches", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mc.EXPERIMENT.train_and_evaluate(config, opts(tmp_path / "b"))
    monkeypatch.setattr(batching, "batches", original)
    mc.EXPERIMENT.train_and_evaluate(config, opts(tmp_path / "b", resume=True))

    a = loading.load_run(tmp_path / "a" / "run", mc.NAME, which="latest")
    b = loading.load_run(tmp_path / "b" / "run", mc.NAME, which="latest")
    assert a.step == b.step == 2 * per_epoch
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_epoch_per_call_runs(tmp_path):
    results = mc.EXPERIMENT.train_and_evaluate(tiny_config(epoch_per_call=True), opts(tmp_path))
    assert 0.0 <= results["test_accuracy"] <= 1.0


@pytest.mark.slow
def test_cli_help_documents_each_flag(run_cli):
    out = run_cli("--help")
    assert out.returncode == 0
    for flag in (
        "--model.cell",
        "--model.hidden",
        "--train.epochs",
        "--train.batch-size",
        "--train.lr",
        "--seed",
        "--data-dir",
        "--resume",
    ):
        assert flag in out.stdout
    assert "Peak learning rate" in out.stdout


@pytest.mark.slow
def test_cli_tiny_run_and_clear_errors(tmp_path, run_cli):
    out = run_cli(
        "--synthetic",
        "96",
        "--train.epochs",
        "1",
        "--train.batch-size",
        "16",
        "--model.hidden",
        "8",
        "--train.devices",
        "2",
        "--workdir",
        str(tmp_path / "run"),
        env={"JAX_NUM_CPU_DEVICES": "1"},  # the flag alone splits the CPU in two
    )
    assert out.returncode == 0, out.stderr
    assert "batches of 16 split over 2 devices" in out.stdout
    assert "test accuracy" in out.stdout
    uneven = run_cli(
        "--synthetic", "96", "--train.devices", "3", "--train.batch-size", "16",
        "--workdir", str(tmp_path / "uneven"),
    )  # fmt: skip
    assert uneven.returncode == 2
    assert "batch of 16 examples does not split evenly over 3 devices" in uneven.stderr
    # The same directory again, without --resume.
    again = run_cli(
        "--synthetic", "96", "--train.batch-size", "16", "--workdir", str(tmp_path / "run")
    )  # fmt: skip
    assert again.returncode == 2 and "already holds checkpoints; pass --resume" in again.stderr
    bad_cell = run_cli(
        "--model.cell", "lstn", "--synthetic", "96", "--workdir", str(tmp_path / "x")
    )
    assert bad_cell.returncode == 2 and "--model.cell must be one of (" in bad_cell.stderr
    bad_flag = run_cli("--train.epoks", "3")
    assert bad_flag.returncode != 0 and "epoks" in bad_flag.stderr
    too_big = run_cli("--synthetic", "96", "--workdir", str(tmp_path / "big"))
    assert too_big.returncode == 2
    assert "--train.batch-size 128 exceeds the 77 training examples" in too_big.stderr


@pytest.mark.slow
def test_cli_missing_data_dir_says_what_to_pass(tmp_path, run_cli):
    out = run_cli("--data-dir", str(tmp_path / "nowhere"), "--workdir", str(tmp_path / "run"))
    assert out.returncode == 2
    assert "does not exist" in out.stderr and "train-images-idx3-ubyte.gz" in out.stderr
    assert "--data-dir" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    out = run_cli("--data-dir", str(tmp_path / "partial"), "--workdir", str(tmp_path / "run"))
    assert out.returncode == 2 and "lacks train-labels-idx1-ubyte.gz" in out.stderr
    for name in mnist.FILES:  # all there, all cut short: the error names them, exit 2
        (tmp_path / "partial" / name).write_bytes(b"\x1f\x8b\x08")
    out = run_cli(
        "--data-dir", str(tmp_path / "partial"), "--workdir", str(tmp_path / "run"),
        env={"TFDS_DATA_DIR": str(tmp_path / "tfds")},  # not prepared: TFDS would read them
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "damaged files: train-images-idx3-ubyte.gz (3 bytes" in out.stderr


@pytest.mark.slow
def test_real_mnist_two_epochs_reach_97_5_percent(tmp_path, tfds_dir, run_cli, mnist_dir):
    # Plain LSTM-128 (no shifts, no dropout): they regularise long runs but slow short ones.
    args = ["--train.epochs", "2", "--train.warmup-steps", "50", "--train.shift", "0"]
    out = run_cli(
        "--data-dir", str(mnist_dir), *args, "--model.dropout", "0",
        "--workdir", str(tmp_path / "run"), env={"TFDS_DATA_DIR": str(tfds_dir)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["test_accuracy"] >= 0.975


def test_random_shift_translates_with_zero_fill():
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 10, 12] = 1.0
    out = np.asarray(mc.random_shift(jax.random.key(0), jnp.asarray(img), 2))
    ((r, c),) = np.argwhere(out[0] == 1.0)
    assert abs(r - 10) <= 2 and abs(c - 12) <= 2 and out.sum() == 1.0
    edge = np.zeros((64, 28, 28), np.float32)
    edge[:, 0, :] = 1.0  # a top row shifted down by k leaves k zero rows above it
    shifted = np.asarray(mc.random_shift(jax.random.key(1), jnp.asarray(edge), 2))
    assert shifted.sum() <= edge.sum() and len({float(s.sum()) for s in shifted}) > 1
