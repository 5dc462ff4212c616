"""rnn_jax.recurrent.linear: the parallel path equals the sequential one (values and
gradients, padded, reversed), the log-space minGRU stays finite over 16k steps, the LRU's
eigenvalues stay inside the unit circle, minGRU's and minLSTM's gates start with long
memories, and bfloat16 inputs recur in float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.recurrent import linear
from rnn_jax.recurrent.scan import unroll

LINEAR = [linear.MINGRU, linear.MINLSTM, linear.LRU]
B, T, D, H = 3, 9, 4, 6


def setup(cell, dtype=jnp.float32):
    params = cell.init(jax.random.PRNGKey(0), D, H, dtype=dtype)
    xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, D), dtype)
    return params, xs


@pytest.mark.parametrize("cell", LINEAR, ids=lambda c: c.name)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_parallel_equals_sequential_in_values_and_gradients(cell, reverse, padded):
    params, xs = setup(cell)
    lengths = jnp.array([T, 4, 1]) if padded else None

    def run(path):
        def loss(params, xs):
            carry, ys = unroll(cell, params, xs, seq_lengths=lengths, reverse=reverse, path=path)
            return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(c) for c in jax.tree.leaves(carry)), ys

        (value, ys), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, xs)
        return value, ys, grads

    par, seq = run("parallel"), run("sequential")
    np.testing.assert_allclose(par[1], seq[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(par[0], seq[0], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(par[2]), jax.tree.leaves(seq[2])):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.slow
def test_log_space_mingru_stays_finite_over_16k_steps():
    params = linear.MINGRU.init(jax.random.PRNGKey(0), D, H)
    xs = 5.0 * jax.random.normal(jax.random.PRNGKey(1), (1, 16384, D))  # strong inputs

    def loss(params):  # the parallel path: the log-space scan
        carry, ys = unroll(linear.MINGRU, params, xs, path="parallel")
        return jnp.mean(ys**2) + jnp.mean(carry)

    value, grads = jax.jit(jax.value_and_grad(loss))(params)  # as in training (3x faster)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_lru_eigenvalues_stay_inside_the_unit_circle_for_any_parameters():
    params = linear.LRU.init(jax.random.PRNGKey(0), D, H)
    radius = np.abs(np.asarray(linear.lru_eigenvalues(params)))
    assert np.all((0.9 <= radius) & (radius <= 0.999))  # the ring initialisation
    for scale in (1.0, 10.0, 30.0):  # any nu_log, theta_log: |lambda| = exp(-exp(nu)) < 1
        wild = jax.random.normal(jax.random.PRNGKey(int(scale)), (2, H)) * scale
        params = {**params, "nu_log": wild[0], "theta_log": wild[1]}
        radius = np.abs(np.asarray(linear.lru_eigenvalues(params)))
        assert np.all(radius <= 1.0) and np.all(radius[np.asarray(wild[0]) > -10] < 1.0)


@pytest.mark.parametrize(
    "cell,coefficients",
    [(linear.MINGRU, linear._mingru_coefficients), (linear.MINLSTM, linear._minlstm_coefficients)],
    ids=["mingru", "minlstm"],
)
def test_gated_linear_cells_start_with_memories_from_2_to_1000_steps(cell, coefficients):
    """Chrono initialisation: with a zero input, each unit keeps a = u / (1 + u) of its state,
    a memory 1 / (1 - a) = 1 + u of 2 to 1000 steps, spread over that range."""
    params = cell.init(jax.random.PRNGKey(0), D, 256)
    log_a, _ = coefficients(params, jnp.zeros((1, D)))
    memory = 1 / (1 - np.exp(np.asarray(log_a[0], np.float64)))
    assert memory.min() >= 2 - 1e-3 and memory.max() <= 1000 + 1e-1
    assert np.median(memory) > 100  # uniform in u: half of them keep over 500 steps


@pytest.mark.parametrize("cell", LINEAR, ids=lambda c: c.name)
def test_bfloat16_inputs_recur_in_float32(cell):
    params, xs = setup(cell)
    params16 = jax.tree.map(lambda p: p.astype(jnp.bfloat16), params)
    for path in ("parallel", "sequential"):
        carry, ys = unroll(cell, params16, xs.astype(jnp.bfloat16), path=path)
        assert ys.dtype == jnp.bfloat16
        assert {c.dtype for c in jax.tree.leaves(carry)} == {jnp.dtype(jnp.float32)}
        _, ref = unroll(cell, params, xs, path=path)
        np.testing.assert_allclose(ys.astype(jnp.float32), ref, atol=0.1, rtol=0.1)
