"""Keras 3 layers' weights converted to ours give Keras's own outputs (LSTM, GRU reset after
and before, SimpleRNN tanh and relu, Bidirectional), and back again; misfits are one clear
error."""

import contextlib
import os

import jax
import numpy as np
import pytest

from rnn_jax.convert.keras import from_keras, keras_cell, to_keras
from rnn_jax.errors import ConfigError
from rnn_jax.recurrent.cells import get_cell
from rnn_jax.recurrent.scan import unroll
from rnn_jax.recurrent.stack import bidirectional_apply

os.environ.setdefault("KERAS_BACKEND", "jax")  # the backend is read at keras's first import
keras = pytest.importorskip("keras")

XS = np.asarray(jax.random.normal(jax.random.key(0), (2, 5, 3)))
LAYERS = {  # name -> (our cell, a Keras layer)
    "lstm": ("lstm", lambda: keras.layers.LSTM(4, return_sequences=True)),
    "gru-after": ("gru_reset_after", lambda: keras.layers.GRU(4, return_sequences=True)),
    "gru-before": (
        "gru",
        lambda: keras.layers.GRU(4, return_sequences=True, reset_after=False),
    ),
    "rnn": ("rnn", lambda: keras.layers.SimpleRNN(4, return_sequences=True)),
    "rnn_relu": (
        "rnn_relu",
        lambda: keras.layers.SimpleRNN(4, activation="relu", return_sequences=True),
    ),
}


@contextlib.contextmanager
def _keras_numerics():
    """Keras's own code broadcasts ranks and mixes dtypes, which our strict tests refuse."""
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        yield


def _run(layer) -> np.ndarray:
    with _keras_numerics():
        return np.asarray(layer(XS))


def _built(layer, seed=1):
    """``layer`` built on ``XS`` with every weight redrawn (biases nonzero)."""
    _run(layer)
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.normal(size=w.shape).astype(np.float32) for w in layer.weights])
    return layer


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers_give_keras_outputs_and_round_trip(name):
    cell, make = LAYERS[name]
    layer = _built(make())
    assert keras_cell(layer) == cell
    params = from_keras(layer)
    ours = unroll(get_cell(cell), params, XS, path="scan")[1]
    np.testing.assert_allclose(ours, _run(layer), atol=1e-5)
    jax.tree.map(np.testing.assert_array_equal, from_keras(to_keras(params, cell), cell), params)
    fresh = make()
    _run(fresh)
    fresh.set_weights(to_keras(params, cell))
    np.testing.assert_allclose(_run(fresh), _run(layer), atol=1e-6)


def test_bidirectional_gives_keras_outputs():
    layer = _built(keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True)))
    params = from_keras(layer)
    _, ours = bidirectional_apply(get_cell("lstm"), params, XS)
    np.testing.assert_allclose(ours, _run(layer), atol=1e-5)
    assert len(to_keras(params, "lstm")) == 6


def test_misfits_are_clear_errors():
    gru = _built(keras.layers.GRU(4, return_sequences=True))
    with pytest.raises(ConfigError, match="is our 'gru_reset_after', not 'lstm'"):
        from_keras(gru, "lstm")
    with pytest.raises(ConfigError, match="reset_after=True, our gru_reset_after, not 'gru'"):
        from_keras(gru.get_weights(), "gru")
    with pytest.raises(ConfigError, match="name the cell"):
        from_keras(gru.get_weights())
    with pytest.raises(ConfigError, match="has 3 weights .* got 1"):
        from_keras(gru.get_weights()[:1], "gru_reset_after")
    with pytest.raises(ConfigError, match="recurrent_activation 'hard_sigmoid'"):
        keras_cell(keras.layers.LSTM(4, recurrent_activation="hard_sigmoid"))
