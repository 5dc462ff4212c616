"""rnn_jax.models.seq2seq: the scanned decoder equals its step in a loop; masks; no attention."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models.seq2seq import AttentionDecoder


def setup(attention, n=6):
    dec = AttentionDecoder(vocab=7, memory_dim=5, embed=4, hidden=8, attention=attention)
    params = dec.init(jax.random.key(0))
    memory = jax.random.normal(jax.random.key(1), (2, n, 5))
    return dec, params, memory


@pytest.mark.parametrize(
    "attention", [pytest.param("additive", marks=pytest.mark.slow), "dot", None]
)
def test_teacher_forcing_equals_the_step_in_a_loop(attention):
    dec, params, memory = setup(attention)
    mask = jnp.array([[True] * 6, [True] * 3 + [False] * 3])
    tokens = jnp.array([[0, 3, 4, 1], [0, 2, 2, 6]])
    logits, weights = dec.teacher_forced(params, memory, tokens, mask)
    assert logits.shape == (2, 4, 7) and weights.shape == (2, 4, 6)
    state = dec.start(params, memory, mask)
    for t in range(4):
        state, want_logits, want_weights = dec.step(params, state, tokens[:, t])
        np.testing.assert_allclose(logits[:, t], want_logits, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(weights[:, t], want_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert np.all(weights[1, :, 3:] == 0)
    if attention is None:  # the plain encoder-decoder: the same context at every step
        np.testing.assert_allclose(weights[1], np.tile([1 / 3] * 3 + [0] * 3, (4, 1)), rtol=1e-6)


def test_padding_does_not_change_the_decoding():
    dec, params, memory = setup("additive")
    tokens = jnp.array([[0, 3, 4]])
    padded = jnp.concatenate([memory[:1, :4], jnp.full((1, 2, 5), 9.0)], axis=1)
    mask = jnp.array([[True] * 4 + [False] * 2])
    got, _ = dec.teacher_forced(params, padded, tokens, mask)
    want, _ = dec.teacher_forced(params, memory[:1, :4], tokens)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
