"""quasi-DEER: the nonlinear cells in parallel over time equal their sequential scan at
trained-scale weights over 40 steps, the cells' Jacobian diagonals are the Jacobian's, and a
capped run falls back to the scan. (tests/test_scan.py runs the "deer" path of every cell
through the generic checks: lengths, reverse, float64 finite differences.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.recurrent.cells import CELLS, get_cell
from rnn_jax.recurrent.deer import _flatten, quasi_deer
from rnn_jax.recurrent.scan import unroll

DEER_CELLS = [c for c in CELLS.values() if any(p.name == "deer" for p in c.paths)]
WITH_DIAGONAL = [c for c in DEER_CELLS if c.jacobian_diagonal is not None]


def trained_scale(cell, key, d, h):
    """Init plus noise of 0.3 per weight: off the initialisation, as after training."""
    params = cell.init(key, d, h)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
    return jax.tree.unflatten(
        tree, [p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
    )


def test_the_classic_cells_offer_deer_and_their_diagonals():
    assert {"rnn", "irnn", "gru", "lstm", "gru_reset_after"} <= {c.name for c in DEER_CELLS}
    assert {"rnn", "irnn", "gru", "lstm"} <= {c.name for c in WITH_DIAGONAL}


@pytest.mark.parametrize("cell", WITH_DIAGONAL, ids=lambda c: c.name)
def test_the_jacobian_diagonal_is_the_jacobians(cell):
    params = trained_scale(cell, jax.random.key(0), 3, 6)
    carry = jax.tree.map(
        lambda c: jax.random.normal(jax.random.key(2), c.shape, c.dtype),
        cell.init_carry(params, (2,)),
    )
    xw = cell.project(params, jax.random.normal(jax.random.key(3), (2, 3)))
    leaves, tree = jax.tree.flatten(carry)
    cuts = np.cumsum([leaf.shape[-1] for leaf in leaves])[:-1]

    def flat_step(s):  # one sequence's state [S] -> [S]
        parts = jnp.split(s[None], cuts, axis=-1)
        new, _ = cell.recur(params, jax.tree.unflatten(tree, parts), xw[:1])
        return _flatten(new)[0]

    jacobian = jax.jacfwd(flat_step)(_flatten(carry)[0])
    got = _flatten(cell.jacobian_diagonal(params, carry, xw))[0]
    np.testing.assert_allclose(got, jnp.diagonal(jacobian), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", DEER_CELLS, ids=lambda c: c.name)
@pytest.mark.parametrize("lengths,reverse", [(None, False), ([40, 9, 0], True)])
def test_deer_equals_the_sequential_scan(cell, lengths, reverse):
    params = trained_scale(cell, jax.random.key(4), 3, 8)
    xs = jax.random.normal(jax.random.key(5), (3, 40, 3))
    lengths = None if lengths is None else jnp.array(lengths)
    kw = {"seq_lengths": lengths, "reverse": reverse}
    want_carry, want = unroll(cell, params, xs, path="scan", **kw)
    got_carry, got = jax.jit(lambda p, x: unroll(cell, p, x, path="deer", **kw))(params, xs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)
    for g, w in zip(jax.tree.leaves(got_carry), jax.tree.leaves(want_carry)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-5)


def test_deer_converges_within_as_many_iterations_as_steps():
    cell = get_cell("gru")
    params = trained_scale(cell, jax.random.key(6), 3, 8)
    xs = jax.random.normal(jax.random.key(7), (12, 2, 3))
    result = quasi_deer(cell, params, xs, cell.init_carry(params, (2,)))
    assert bool(result.converged) and 1 <= int(result.iterations) <= 12 + 1


def test_a_capped_run_falls_back_to_the_scan():
    cell = get_cell("rnn")
    params = trained_scale(cell, jax.random.key(8), 3, 8)
    xs = jax.random.normal(jax.random.key(9), (60, 2, 3))
    result = quasi_deer(cell, params, xs, cell.init_carry(params, (2,)), max_iterations=2)
    assert not bool(result.converged) and int(result.iterations) == 2
    _, want = unroll(cell, params, xs, time_major=True, path="scan")
    np.testing.assert_array_equal(result.ys, want)


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_deer_gradients_are_the_scans(name):
    cell = get_cell(name)
    params = trained_scale(cell, jax.random.key(10), 3, 8)
    xs = jax.random.normal(jax.random.key(11), (2, 30, 3))

    def loss(params, xs, path):
        return jnp.sum(unroll(cell, params, xs, path=path)[1] ** 2)

    want = jax.grad(loss, argnums=(0, 1))(params, xs, "scan")
    got = jax.grad(loss, argnums=(0, 1))(params, xs, "deer")
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
