"""The experiment registry: every module under experiments/ is found by name, with its own
definition, and unknown names are one clear error."""

import numpy as np
import pytest

import experiments
from rnn_jax.errors import ConfigError
from rnn_jax.training.definition import Experiment, expect
from rnn_jax.training.rundir import RunDirError


def test_every_experiment_module_is_registered_under_its_name():
    names = experiments.names()
    assert {"mnist_gen", "mnist_classifier", "timeseries", "video", "crnn"} <= set(names)
    for name in names:
        found = experiments.find(name)
        assert isinstance(found, Experiment) and found.name == name
        assert found.config.__doc__ and found.options().workdir is None


def test_an_unknown_experiment_lists_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"unknown experiment 'mnist_gan'; choose one of \[.*'mnist_gen'"
    ):
        experiments.find("mnist_gan")


# A tiny run of every registered experiment, what its ``predict`` is given, and how many
# answers that gives; a new experiment must add itself here (the next test fails until it does).
MNIST = ["--synthetic", "400"]
CANVAS = np.random.default_rng(0).integers(0, 255, (2, 224, 224)).astype(np.uint8)
TINY = {
    "caption": ([*MNIST, "--data.train-scenes", "32", "--data.val-scenes", "8",
                 "--data.test-scenes", "8", "--data.val-digits", "100", "--train.batch-size",
                 "16", "--train.epochs", "1", "--model.channels", "4", "8", "--model.hidden",
                 "8", "--model.embed", "4", "--beams", "1"],
                (CANVAS[:, :64, :64],), 2),
    "char_rnn": (["--word", "hihello", "--train.steps", "4"], ("hi", 5), 5),
    "crnn": ([*MNIST, "--data.train-strings", "32", "--data.val-strings", "8",
              "--data.test-strings", "8", "--data.val-digits", "100", "--train.batch-size", "16",
              "--train.epochs", "1", "--model.channels", "4", "8", "8", "--model.hidden", "8",
              "--beam-strings", "0"],
             (CANVAS[:, :32],), 2),
    "gradient_flow": (["--length", "12", "--train.steps", "4", "--train.evals", "2",
                       "--data.val-examples", "8", "--data.test-examples", "8",
                       "--data.gradient-examples", "4", "--model.hidden", "8"],
                      (np.random.default_rng(0).uniform(size=(2, 12, 2)),), 2),
    "mnist_classifier": ([*MNIST, "--train.epochs", "1", "--train.val-size", "80",
                          "--model.hidden", "8", "--model.input-proj", "0"],
                         (CANVAS[:, :28, :28],), 2),
    "mnist_gen": ([*MNIST, "--train.steps", "4", "--train.eval-every", "2", "--train.val-size",
                   "80", "--model.hidden", "8", "--model.head", "8"],
                  (CANVAS[:, :14, :28],), 2),
    "mnist_inpaint": ([*MNIST, "--train.steps", "4", "--train.eval-every", "2",
                       "--train.val-size", "80", "--model.encoder", "4", "--model.hidden", "8",
                       "--model.head", "8", "--model.context", "4", "--model.made-hidden", "8"],
                      (CANVAS[:, :28, :28],), 2),
    "reber": (["--data.train-strings", "64", "--data.val-strings", "16", "--data.test-strings",
               "16", "--data.lengths", "5", "9", "--train.epochs", "1", "--model.hidden", "8"],
              (["BTXSETE", "BPTXSEPE"],), 2),
    "seq_mnist": ([*MNIST, "--train.val-size", "80", "--train.val-images", "10",
                   "--train.epochs", "1", "--train.batch-size", "40", "--model.cell", "lru",
                   "--model.hidden", "4", "--model.input-proj", "4"],
                  (CANVAS[:, :28, :28],), 2),
    "signal_forecast": (["--data.synthetic-samples", "6000", "--data.steps", "5",
                         "--data.features", "20", "--data.stride", "20", "--train.epochs", "1",
                         "--model.hidden", "8", "--model.head", "8",
                         "--eval.recursive-windows", "2"],
                        (np.zeros((2, 5, 20), np.float32),), 2),
    "timeseries": (["--train.steps", "4", "--train.windows", "64", "--model.hidden", "8"],
                   (np.zeros((2, 20), np.float32), 5), 2),
    "translate": (["--data.train-dates", "64", "--data.val-dates", "16", "--data.test-dates",
                   "16", "--train.epochs", "1", "--train.batch-size", "16", "--model.hidden", "8",
                   "--model.embed", "4"],
                  (["22/04/2019", "April 22, 2019"],), 2),
    "video": ([*MNIST, "--data.train-clips", "16", "--data.val-clips", "4", "--data.test-clips",
               "4", "--data.val-digits", "100", "--data.frames", "4", "5", "--data.size", "24",
               "--data.speed", "0.5", "1.5", "--train.epochs", "1", "--train.batch-size", "8",
               "--model.channels", "4", "8", "--model.hidden", "8"],
              (CANVAS[:, :96, :24].reshape(2, 4, 24, 24),), 2),
}  # fmt: skip


def test_every_experiment_has_a_tiny_run_below():
    assert set(TINY) == set(experiments.names())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_the_generic_loader_loads_every_experiments_tiny_run(name, tmp_path):
    flags, inputs, answers = TINY[name]
    run = tmp_path / name
    experiments.find(name).main([*flags, "--workdir", str(run)])
    trained = experiments.load(run)
    assert trained.experiment is experiments.find(name) and trained.step >= 1
    assert isinstance(trained.config, experiments.find(name).config)
    out = trained.predict(*inputs)
    assert len(out["digits"] if isinstance(out, dict) else out) == answers
    with pytest.raises(ValueError, match="expected|not|symbols"):  # bad input: one clear error
        trained.predict(*BAD.get(name, (np.zeros((2, 3)),)))


BAD = {"char_rnn": ("§",), "reber": (["BTQ"],), "translate": (["22 März 2019"],),
       "timeseries": (np.zeros(3), 5)}  # fmt: skip


def test_a_folder_that_is_no_run_is_one_clear_error(tmp_path):
    with pytest.raises(RunDirError, match="is not a run directory"):
        experiments.load(tmp_path)


def test_predict_inputs_are_checked_with_one_clear_error():
    images = np.zeros((3, 28, 28), np.uint8)
    assert expect(images, (None, 28, 28), "images") is not None
    with pytest.raises(ValueError, match=r"expected images \[N, 64, 64\], got shape \(3, 28, 28\)"):
        expect(images, (None, 64, 64), "images")
    with pytest.raises(ValueError, match=r"expected clips \[N, \?, 28\]"):
        expect(images[0], (None, None, 28), "clips")


def test_a_model_that_is_no_distribution_says_so():
    clf = experiments.pretrained("mnist_classifier")
    with pytest.raises(TypeError, match="a mnist_classifier model has no sample"):
        clf.sample(np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(TypeError, match="has no log_prob"):
        clf.log_prob(np.zeros((1, 28, 28), np.uint8))
