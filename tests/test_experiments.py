"""The experiment registry: every module under experiments/ is found by name, with its own
definition, and unknown names are one clear error."""

import pytest

import experiments
from rnn_jax.errors import ConfigError
from rnn_jax.training.definition import Experiment


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
