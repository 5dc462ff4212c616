"""Shipped models: file format round trip, checksums, clear errors, and their test figures."""

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

import experiments
from experiments import mnist_classifier
from rnn_jax.data import mnist
from rnn_jax.evaluation import completion
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.training import loading, shipped
from rnn_jax.training.loading import TrainedRun

REPO = Path(__file__).resolve().parents[1]
SHIPPED = (("mnist_classifier", None), ("mnist_gen", None), ("mnist_gen", "bernoulli"))


def toy_run() -> TrainedRun:
    model = SequenceModel(in_dim=3, out_dim=2, hidden=(4, 5), head=(6,))
    return TrainedRun(
        experiment="toy",
        config={"seed": 0},
        params=model.init(jax.random.PRNGKey(0)),
        step=7,
        metrics={"val/mse": 0.5},
        source="test",
    )


def test_flatten_round_trip_keeps_dicts_lists_and_values():
    params = toy_run().params
    flat = shipped.flatten(params)
    assert "rnn/1/wh" in flat and "head/0/w" in flat
    back = shipped.unflatten(flat)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)


def test_export_load_round_trip_and_clear_errors(tmp_path):
    run = toy_run()
    shipped.export(run, "toy", {"test": {"mse": 0.25}}, folder=tmp_path)
    card = json.loads((tmp_path / "toy.json").read_text())
    assert card["test"] == {"mse": 0.25} and card["step"] == 7 and len(card["sha256"]) == 64
    back = shipped.load("toy", folder=tmp_path)
    assert back.config == run.config and back.step == 7 and back.metrics == run.metrics
    for a, b in zip(jax.tree.leaves(back.params), jax.tree.leaves(run.params)):
        np.testing.assert_array_equal(a, b)
    assert not list(tmp_path.glob("*.tmp"))

    with pytest.raises(shipped.PretrainedError, match=r"no pretrained model 'nope'.*\['toy'\]"):
        shipped.load("nope", folder=tmp_path)
    weights = tmp_path / "toy.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte
    weights.write_bytes(bytes(data))
    with pytest.raises(shipped.PretrainedError, match="does not match the checksum"):
        shipped.load("toy", folder=tmp_path)
    weights.unlink()
    with pytest.raises(shipped.PretrainedError, match="is missing"):
        shipped.load("toy", folder=tmp_path)


def test_mismatched_weights_are_a_clear_error(tmp_path):
    """A card whose config describes another model than its weights (e.g. an edited card)."""
    for suffix in (".json", ".safetensors"):
        shutil.copy(shipped.FOLDER / f"mnist_classifier{suffix}", tmp_path)
    card = json.loads((tmp_path / "mnist_classifier.json").read_text())
    card["config"]["model"]["hidden"] = [64]
    (tmp_path / "mnist_classifier.json").write_text(json.dumps(card))
    with pytest.raises(loading.ParamsMismatchError, match="do not fit"):
        mnist_classifier.EXPERIMENT.trained(shipped.load("mnist_classifier", folder=tmp_path))


def test_a_truncated_card_is_a_clear_error(tmp_path):
    text = (shipped.FOLDER / "mnist_classifier.json").read_text()
    (tmp_path / "mnist_classifier.json").write_text(text[: len(text) // 2])
    with pytest.raises(shipped.PretrainedError, match="is not valid JSON .*truncated"):
        shipped.load("mnist_classifier", folder=tmp_path)


@pytest.mark.parametrize(("experiment", "variant"), SHIPPED)
def test_shipped_files_match_their_checksums_and_models(experiment, variant):
    name = f"{experiment}_{variant}" if variant else experiment
    card = shipped.card(name)
    assert card["experiment"] == experiment and "command" in card and "test" in card
    size = (shipped.FOLDER / f"{name}.safetensors").stat().st_size
    assert size < 4_000_000  # a few MB: small enough to ship
    assert experiments.pretrained(experiment, variant).step == card["step"]


@pytest.mark.slow
def test_shipped_models_reach_their_stated_test_figures(tfds_dir, monkeypatch, mnist_dir):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tfds_dir))
    data = mnist.load(str(mnist_dir), tfds_dir=str(tfds_dir))
    images, labels = data["test_images"], data["test_labels"]

    clf = experiments.pretrained("mnist_classifier")
    accuracy = float(np.mean(clf.predict(images) == labels))
    assert accuracy == pytest.approx(shipped.card("mnist_classifier")["test"]["accuracy"], abs=2e-4)

    gen = experiments.pretrained("mnist_gen")
    completed = gen.predict(images[:, :14])
    mse = completion.bottom_mse(completed, mnist.pixels(images), 14)
    assert mse == pytest.approx(shipped.card("mnist_gen")["test"]["gen_mse"], rel=1e-3)

    bernoulli = experiments.pretrained("mnist_gen", "bernoulli")  # on binarized test digits
    binarized = mnist.binarize(images, bernoulli.config.seed * 7 + 1)
    nats = -float(bernoulli.log_prob(mnist.pixels(binarized), given="top").mean())
    assert nats == pytest.approx(shipped.card("mnist_gen_bernoulli")["test"]["nll"], rel=1e-4)


def test_the_shipped_classifier_gives_labels_or_probabilities():
    clf = experiments.pretrained("mnist_classifier")
    images = mnist.synthetic(5, seed=0)[0]
    probs = clf.predict(images, probs=True)
    assert probs.shape == (5, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(clf.predict(images), probs.argmax(1))
