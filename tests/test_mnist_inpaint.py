"""experiments.mnist_inpaint: a tiny run of each of Pyro's protocols, scored in nats beside
the published figures, and the trained model's predict / sample / log_prob."""

import json

import numpy as np
import pytest

import experiments
from experiments import mnist_inpaint as mi
from rnn_jax.data import masks, mnist

TINY = ["--synthetic", "300", "--train.val-size", "60", "--train.steps", "20",
        "--train.eval-every", "10", "--model.encoder", "8", "--model.hidden", "8",
        "--model.head", "8", "--model.context", "8", "--model.made-hidden", "16"]  # fmt: skip


def test_bad_masks_are_one_clear_error(run_cli):
    out = run_cli("--masks", "q1", "q4")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: each of --masks must be one of")


@pytest.mark.slow
def test_tiny_run_of_each_protocol_then_sample_and_score(tmp_path):
    run = tmp_path / "inpaint"
    mi.EXPERIMENT.main([*TINY, "--classifier", "pretrained", "--workdir", str(run)])
    results = json.loads((run / "results.json").read_text())
    for name, published in mi.PYRO.items():  # each protocol, beside Pyro's figures
        nats = results["nats"][name]
        assert nats["Pyro CVAE"] == published["Pyro CVAE"]
        hidden = int((~masks.named(name)).sum())
        assert (
            0 < nats["model"] < hidden * 2 and 0 < nats["mean of 10 nearest (on the given pixels)"]
        )
        assert 0 <= results["classifier_accuracy"][name] <= 1
        assert (run / "figures" / f"inpainting_{name}.png").stat().st_size > 1000
    assert results["val"]["val/nll_q2"] > 0

    trained = experiments.load(run)
    images = mnist.synthetic(3, seed=1)[0]
    drawn = trained.sample(images, "q1", n=2, seed=3)
    assert drawn.shape == (3, 2, 28, 28)
    given = masks.named("q1")
    np.testing.assert_array_equal(drawn[:, 0][:, given], mnist.pixels(images)[:, given])
    np.testing.assert_array_equal(drawn, trained.sample(images, "q1", n=2, seed=3))
    nats = -trained.log_prob(images, given="q3")
    assert nats.shape == (3,) and np.all(nats > 0)
    np.testing.assert_array_equal(trained.log_prob(images, given=np.ones((28, 28), bool)), 0.0)
    with pytest.raises(ValueError, match=r"expected images \[N, 28, 28\]"):
        trained.predict(images[:, :14])
