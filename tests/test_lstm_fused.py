"""The LSTM's fused path (hand-derived backward pass) equals jax.grad of the plain scan, with
and without sequence lengths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.recurrent.scan import unroll
from rnn_jax.typing import LSTMCarry


@pytest.mark.parametrize(
    "lengths,steps_per_iteration",
    [
        pytest.param(None, 1, marks=pytest.mark.slow),
        ((5, 0), 1),
        pytest.param((2, 4), 2, marks=pytest.mark.slow),
    ],
    ids=["full", "0", "2-4"],
)
def test_fused_values_and_grads_equal_autodiff(tiny, lengths, steps_per_iteration):
    with jax.enable_x64(True):
        k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
        params = LSTM.init(k1, tiny.D, tiny.H, dtype=jnp.float64)
        xs = jax.random.normal(k2, (tiny.B, tiny.T, tiny.D), jnp.float64)
        carry = LSTMCarry(*jax.random.normal(k3, (2, tiny.B, tiny.H), jnp.float64))
        w = jax.random.normal(k4, (tiny.B, tiny.T, tiny.H), jnp.float64)

        seq_lengths = None if lengths is None else jnp.array(lengths)

        def loss(path, params, carry, xs):
            (h, c), ys = unroll(
                LSTM,
                params,
                xs,
                carry=carry,
                seq_lengths=seq_lengths,
                path=path,
                unroll=steps_per_iteration,
            )
            return jnp.sum(ys * w) + jnp.sum(h * c) + jnp.sum(c)

        v_ref, g_ref = jax.value_and_grad(loss, argnums=(1, 2, 3))("scan", params, carry, xs)
        v, g = jax.value_and_grad(loss, argnums=(1, 2, 3))("fused", params, carry, xs)
        np.testing.assert_allclose(v, v_ref, rtol=1e-12)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_fused_is_the_default_for_float32_lstm_padded_or_not(tiny):
    params = LSTM.init(jax.random.key(0), tiny.D, tiny.H)
    xs = jnp.ones((tiny.B, tiny.T, tiny.D))
    for lengths in (None, jnp.array([1, 2])):
        jaxpr = jax.make_jaxpr(lambda p: unroll(LSTM, p, xs, seq_lengths=lengths))(params)
        assert "custom_vjp_call" in str(jaxpr)


def test_bfloat16_takes_the_generic_scan(tiny):
    params = LSTM.init(jax.random.key(0), tiny.D, tiny.H, dtype=jnp.bfloat16)
    xs = jnp.ones((tiny.B, tiny.T, tiny.D), jnp.bfloat16)
    assert "custom_vjp_call" not in str(jax.make_jaxpr(lambda p: unroll(LSTM, p, xs))(params))
