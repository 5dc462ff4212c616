"""The diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t`` with its own backward pass.

JAX differentiates a ``lax.scan`` generically: the backward scan reads and writes the
saved values step by step, which costs several times the forward pass. The gradient of
this recurrence is the same recurrence run backwards (``g_t = ct_t + a_{t+1} g_{t+1}``),
so :func:`linear_recurrence` runs that instead (``jax.custom_vjp``): one more scan of one
multiply-add per unit and step, then elementwise products. Complex coefficients follow
JAX's convention (cotangents are transposed, not conjugated).
"""

from functools import partial

import jax
import jax.numpy as jnp


def _forward(a: jax.Array, b: jax.Array, h0: jax.Array, unroll: int) -> jax.Array:
    def multiply_add(h, ab):
        h = ab[0] * h + ab[1]
        return h, h

    return jax.lax.scan(multiply_add, h0, (a, b), unroll=unroll)[1]


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def linear_recurrence(a: jax.Array, b: jax.Array, h0: jax.Array, unroll: int = 1) -> jax.Array:
    """Every ``h_t`` of ``h_t = a_t * h_{t-1} + b_t`` from ``h0``: ``a``, ``b`` are ``[T, ...]``
    (time first, elementwise), ``h0`` is ``[...]``; returns ``[T, ...]``. A sequential scan
    (``unroll`` steps per iteration) forward and backward."""
    return _forward(a, b, h0, unroll)


def _fwd(a, b, h0, unroll):
    hs = _forward(a, b, h0, unroll)
    return hs, (a, hs, h0)


def _bwd(unroll, residuals, ct):
    a, hs, h0 = residuals
    after = jnp.concatenate([a[1:], jnp.zeros_like(a[:1])])  # a_{t+1}; nothing after the end
    # g_t = ct_t + a_{t+1} g_{t+1}: the same recurrence, backwards in time.
    g = jnp.flip(_forward(jnp.flip(after, 0), jnp.flip(ct, 0), jnp.zeros_like(h0), unroll), 0)
    before = jnp.concatenate([h0[None], hs[:-1]])  # h_{t-1}
    return g * before, g, a[0] * g[0]


linear_recurrence.defvjp(_fwd, _bwd)
