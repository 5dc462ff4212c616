"""The hand-derived LSTM backward pass equals jax.grad of the plain scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.cells import LSTM
from rnn_jax.scan import unroll
from rnn_jax.typing import LSTMCarry


@pytest.mark.parametrize("steps_per_iteration", [1, 2])
def test_fused_values_and_grads_equal_autodiff(tiny, steps_per_iteration):
    with jax.enable_x64(True):
        k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
        params = LSTM.init(k1, tiny.D, tiny.H, dtype=jnp.float64)
        xs = jax.random.normal(k2, (tiny.B, tiny.T, tiny.D), jnp.float64)
        carry = LSTMCarry(*jax.random.normal(k3, (2, tiny.B, tiny.H), jnp.float64))
        w = jax.random.normal(k4, (tiny.B, tiny.T, tiny.H), jnp.float64)

        def loss(fused, params, carry, xs):
            (h, c), ys = unroll(
                LSTM, params, xs, carry=carry, fused=fused, unroll=steps_per_iteration
            )
            return jnp.sum(ys * w) + jnp.sum(h * c) + jnp.sum(c)

        v_ref, g_ref = jax.value_and_grad(loss, argnums=(1, 2, 3))(False, params, carry, xs)
        v, g = jax.value_and_grad(loss, argnums=(1, 2, 3))(True, params, carry, xs)
        np.testing.assert_allclose(v, v_ref, rtol=1e-12)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_fused_is_the_default_for_float32_lstm(tiny):
    params = LSTM.init(jax.random.key(0), tiny.D, tiny.H)
    xs = jnp.ones((tiny.B, tiny.T, tiny.D))
    jaxpr = str(jax.make_jaxpr(lambda p: unroll(LSTM, p, xs))(params))
    assert "custom_vjp_call" in jaxpr
    jaxpr = str(
        jax.make_jaxpr(lambda p: unroll(LSTM, p, xs, seq_lengths=jnp.array([1, 2])))(params)
    )
    assert "custom_vjp_call" not in jaxpr


def test_fused_rejects_masking(tiny):
    params = LSTM.init(jax.random.key(0), tiny.D, tiny.H)
    with pytest.raises(ValueError, match="fused=True"):
        unroll(LSTM, params, jnp.ones((2, 3, tiny.D)), seq_lengths=jnp.array([1, 2]), fused=True)
