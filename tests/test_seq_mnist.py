"""experiments.seq_mnist: the pixel order (fixed per permutation seed), a tiny CLI run of
sMNIST and psMNIST with a linear-recurrence cell, and its predictions."""

import json

import numpy as np
import pytest

import experiments
from experiments import seq_mnist as sm
from rnn_jax.data import mnist


def test_the_permutation_is_fixed_by_its_seed_alone():
    order = sm.pixel_order(sm.Config(permute=True))
    assert sorted(order.tolist()) == list(range(784)) and not np.array_equal(order, np.arange(784))
    np.testing.assert_array_equal(order, sm.pixel_order(sm.Config(permute=True, seed=5)))
    other = sm.pixel_order(sm.Config(permute=True, permutation_seed=1))
    assert not np.array_equal(order, other)
    np.testing.assert_array_equal(sm.pixel_order(sm.Config()), np.arange(784))


@pytest.mark.parametrize("permute", [[], ["--permute"]], ids=["sMNIST", "psMNIST"])
def test_tiny_cli_run_reads_pixels_and_predicts(tmp_path, run_cli, permute):
    run = tmp_path / "seq"
    out = run_cli(
        "--synthetic", "120", "--train.val-size", "40", "--train.val-images", "20",
        "--train.epochs", "1", "--train.batch-size", "20", "--model.cell", "mingru",
        "--model.hidden", "8", "--model.input-proj", "8", *permute, "--workdir", str(run),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads((run / "results.json").read_text())
    assert results["task"] == ("psMNIST" if permute else "sMNIST")
    assert 0 <= results["test_accuracy"] <= 1
    assert results["published_test_accuracy"]["LSTM (Le et al. 2015 / Arjovsky et al. 2016)"] == (
        92.9 if permute else 98.8
    )
    labels = experiments.load(run).predict(mnist.synthetic(3, seed=1)[0])
    assert labels.shape == (3,) and set(labels.tolist()) <= set(range(10))


def test_a_step_budget_replaces_the_epochs(tmp_path):
    from rnn_jax.training import experiment

    config = sm.Config(synthetic=120, train=sm.TrainConfig(
        val_size=40, val_images=10, batch_size=20, steps=7, evals_per_epoch=4))  # fmt: skip
    schedule = sm.make_task(config, experiment.MnistOptions()).schedule
    assert (schedule.steps, schedule.eval_every) == (7, 1)  # 80 images: 4 steps a pass
