"""rnn_jax.nn.attention: weights form a distribution over the valid outputs, the context is
their weighted sum."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.nn.attention import Attention


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_weights_sum_to_one_and_masks_hold(kind):
    att = Attention(kind, query_dim=5, key_dim=3, hidden=7)
    params = att.init(jax.random.key(0))
    memory = jax.random.normal(jax.random.key(1), (2, 6, 3))
    query = jax.random.normal(jax.random.key(2), (2, 5))
    mask = jnp.array([[True] * 6, [True] * 4 + [False] * 2])
    context, weights = att.apply(params, att.keys(params, memory), memory, query, mask)
    assert weights.shape == (2, 6) and context.shape == (2, 3)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    assert np.all(weights[1, 4:] == 0) and np.all(weights[1, :4] > 0)
    np.testing.assert_allclose(context, jnp.einsum("bn,bnd->bd", weights, memory), rtol=1e-6)
    # Padding does not change the valid outputs' weights: the same row without it.
    _, alone = att.apply(params, att.keys(params, memory[1:, :4]), memory[1:, :4], query[1:])
    np.testing.assert_allclose(weights[1, :4], alone[0], rtol=1e-5)


def test_dot_attention_looks_at_the_key_most_like_the_query():
    att = Attention("dot", query_dim=3, key_dim=3)
    params = {"q": {"w": 10 * jnp.eye(3), "b": jnp.zeros(3)}}
    memory = jnp.eye(3)[None]  # three orthogonal keys
    _, weights = att.apply(params, att.keys(params, memory), memory, jnp.array([[0.0, 1, 0]]))
    assert int(jnp.argmax(weights)) == 1 and float(weights[0, 1]) > 0.9


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown attention 'luong'"):
        Attention("luong", 3, 3)
