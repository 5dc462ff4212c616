"""Every cell's fused layer (hand-derived backward pass) equals jax.grad of the plain scan, in
float64 on XLA's loops: with and without sequence lengths, reversed, stacked."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.recurrent.cells import CELLS
from rnn_jax.recurrent.scan import unroll
from rnn_jax.recurrent.stack import stack_apply, stack_init

FUSED = [c for c in CELLS.values() if any(p.name == "fused" for p in c.paths)]


def _random_carry(cell, params, batch, key):
    carry = cell.init_carry(params, (batch,))
    keys = jax.random.split(key, len(jax.tree.leaves(carry)))
    leaves = [jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, jax.tree.leaves(carry))]
    return jax.tree.unflatten(jax.tree.structure(carry), leaves)


def _problem(cell, tiny, dtype, seed=0):
    """Params with non-zero biases, a random carry, inputs and output weights."""
    k = jax.random.split(jax.random.key(seed), 5)
    params = cell.init(k[0], tiny.D, tiny.H, dtype=dtype)
    params = {
        name: p + 0.1 * jax.random.normal(k[1], p.shape, dtype) if name.startswith("b") else p
        for name, p in params.items()
    }
    carry = _random_carry(cell, params, tiny.B, k[2])
    xs = jax.random.normal(k[3], (tiny.B, tiny.T, tiny.D), dtype)
    w = jax.random.normal(k[4], (tiny.B, tiny.T, tiny.H), dtype)
    return params, carry, xs, w


@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
@pytest.mark.parametrize(
    "lengths,reverse,steps_per_iteration",
    [
        pytest.param(None, False, 1, marks=pytest.mark.slow),
        ((5, 0), False, 1),
        ((2, 4), True, 2),
    ],
    ids=["full", "0", "2-4-reversed"],
)
def test_values_and_grads_equal_autodiff(tiny, cell, lengths, reverse, steps_per_iteration):
    with jax.enable_x64(True):
        params, carry, xs, w = _problem(cell, tiny, jnp.float64)
        seq_lengths = None if lengths is None else jnp.array(lengths)

        def loss(path, params, carry, xs):
            final, ys = unroll(
                cell,
                params,
                xs,
                carry=carry,
                seq_lengths=seq_lengths,
                reverse=reverse,
                path=path,
                unroll=steps_per_iteration,
            )
            return jnp.sum(ys * w) + sum(jnp.sum(jnp.sin(c)) for c in jax.tree.leaves(final))

        v_ref, g_ref = jax.value_and_grad(loss, argnums=(1, 2, 3))("scan", params, carry, xs)
        v, g = jax.value_and_grad(loss, argnums=(1, 2, 3))("fused", params, carry, xs)
        np.testing.assert_allclose(v, v_ref, rtol=1e-12)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
def test_stacked_grads_equal_autodiff(tiny, cell):
    """Two layers: the upper layer's input gradient flows into the lower fused layer."""
    with jax.enable_x64(True):
        params = stack_init(jax.random.key(1), cell, tiny.D, [tiny.H, tiny.H], dtype=jnp.float64)
        _, _, xs, w = _problem(cell, tiny, jnp.float64)
        lengths = jnp.array([tiny.T, 2])

        def loss(path, params, xs):
            return jnp.sum(stack_apply(cell, params, xs, seq_lengths=lengths, path=path)[1] * w)

        g_ref = jax.grad(loss, argnums=(1, 2))("scan", params, xs)
        g = jax.grad(loss, argnums=(1, 2))("fused", params, xs)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
def test_fused_is_the_default_for_float32_padded_or_not(tiny, cell):
    params = cell.init(jax.random.key(0), tiny.D, tiny.H)
    xs = jnp.ones((tiny.B, tiny.T, tiny.D))
    for lengths in (None, jnp.array([1, 2])):
        jaxpr = jax.make_jaxpr(lambda p: unroll(cell, p, xs, seq_lengths=lengths))(params)
        assert "custom_vjp_call" in str(jaxpr)


@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
def test_bfloat16_takes_the_generic_scan(tiny, cell):
    params = cell.init(jax.random.key(0), tiny.D, tiny.H, dtype=jnp.bfloat16)
    xs = jnp.ones((tiny.B, tiny.T, tiny.D), jnp.bfloat16)
    assert "custom_vjp_call" not in str(jax.make_jaxpr(lambda p: unroll(cell, p, xs))(params))


@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
def test_float64_stays_on_xla_loops(tiny, cell):
    with jax.enable_x64(True):
        params = cell.init(jax.random.key(0), tiny.D, tiny.H, dtype=jnp.float64)
        xs = jnp.ones((tiny.B, tiny.T, tiny.D), jnp.float64)
        grad = jax.jit(jax.grad(lambda p: jnp.sum(unroll(cell, p, xs)[1])))
        assert "rnn_jax_" not in grad.lower(params).as_text()
