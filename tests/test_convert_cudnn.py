"""Our LSTM stacks packed for cuDNN give ``jax.experimental.rnn.lstm_ref``'s outputs and
gradients on those weights (two layers, one and two directions, padded), and unpack back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import rnn as jax_rnn

from rnn_jax.convert.cudnn import from_cudnn, to_cudnn
from rnn_jax.errors import ConfigError
from rnn_jax.recurrent.fused.cudnn import pack
from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.recurrent.scan import unroll
from rnn_jax.recurrent.stack import bidirectional_init, stack_init

XS = jax.random.normal(jax.random.key(0), (3, 6, 4))
LENGTHS = jnp.array([6, 2, 4], jnp.int32)


def _layers(bidirectional):
    if not bidirectional:
        return stack_init(jax.random.key(1), LSTM, 4, [5, 5])
    return [bidirectional_init(jax.random.key(k), LSTM, d, 5) for k, d in ((1, 4), (2, 10))]


def _ours(layers, xs):
    for layer in layers:
        if "fwd" in layer:
            ys = [
                unroll(LSTM, layer[d], xs, seq_lengths=LENGTHS, reverse=d == "bwd", path="scan")[1]
                for d in ("fwd", "bwd")
            ]
            xs = jnp.concatenate(ys, axis=-1)
        else:
            xs = unroll(LSTM, layer, xs, seq_lengths=LENGTHS, path="scan")[1]
    return xs


def _reference(layers, xs, bidirectional):
    dims = (4, 5, 2)
    zeros = jnp.zeros((4 if bidirectional else 2, 3, 5))
    unpacked = jax_rnn.unpack_lstm_weights(pack(layers), *dims, bidirectional)
    ys, _, _ = jax_rnn.lstm_ref(xs, zeros, zeros, *unpacked, LENGTHS, *dims, 0.0, bidirectional)
    return ys


@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_weights_give_lstm_refs_values_and_gradients(bidirectional):
    layers = _layers(bidirectional)
    np.testing.assert_allclose(
        _reference(layers, XS, bidirectional), _ours(layers, XS), rtol=1e-5, atol=1e-6
    )

    def loss(run, layers):
        return jnp.sum(jnp.sin(run(layers)))

    want = jax.grad(loss, argnums=1)(lambda p: _ours(p, XS), layers)
    got = jax.grad(loss, argnums=1)(lambda p: _reference(p, XS, bidirectional), layers)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), got, want)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_unpacks_back(bidirectional):
    layers = _layers(bidirectional)
    back = from_cudnn(to_cudnn(layers), 4, 5, 2, bidirectional)
    jax.tree.map(np.testing.assert_array_equal, back, jax.tree.map(np.asarray, layers))


def test_a_count_that_does_not_fit_names_the_sizes():
    weights = to_cudnn(_layers(False))
    with pytest.raises(ConfigError, match="460 cuDNN weights, .*hidden_size=6, .* has 624"):
        from_cudnn(weights, 4, 6, 2)
