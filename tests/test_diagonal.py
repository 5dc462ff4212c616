"""rnn_jax.recurrent.diagonal: the sequential recurrence, its own backward pass and the
associative scan agree with a plain ``lax.scan`` and its autodiff, real and complex."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.recurrent import diagonal


def plain_scan(a, b, h0):
    return jax.lax.scan(lambda h, ab: (ab[0] * h + ab[1],) * 2, h0, (a, b))[1]


def coefficients(dtype):
    ka, kb, kh = jax.random.split(jax.random.PRNGKey(0), 3)
    a = jax.random.uniform(ka, (50, 3, 4), minval=0.5, maxval=1.0)
    b, h0 = jax.random.normal(kb, (50, 3, 4)), jax.random.normal(kh, (3, 4))
    if dtype == jnp.complex64:  # rotate a, give b and h0 imaginary parts
        a = a.astype(dtype) * jnp.exp(jax.lax.complex(jnp.zeros_like(a), jnp.full_like(a, 0.3)))
        b, h0 = jax.lax.complex(b, 0.5 * b), jax.lax.complex(h0, -0.25 * h0)
    return a.astype(dtype), b.astype(dtype), h0.astype(dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.complex64], ids=["real", "complex"])
def test_its_values_and_gradients_equal_a_plain_scan_and_autodiff(dtype):
    a, b, h0 = coefficients(dtype)
    want = plain_scan(a, b, h0)
    np.testing.assert_allclose(diagonal.linear_recurrence(a, b, h0), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        diagonal.associative_recurrence(a, b, h0), want, rtol=1e-5, atol=1e-5
    )

    def loss(fn):  # a real loss of the states, through every argument
        return lambda a, b, h0: jnp.sum(jnp.abs(fn(a, b, h0)) ** 2)

    args = (0, 1, 2)
    got = jax.grad(loss(diagonal.linear_recurrence), argnums=args)(a, b, h0)
    ref = jax.grad(loss(plain_scan), argnums=args)(a, b, h0)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
