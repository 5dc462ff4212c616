"""Every registered cell as an NNX module: under ``nnx.RNN`` and ``nnx.Bidirectional`` it
equals the pure cell's scan, and with Flax's weights mapped over (``convert.flax``) the
LSTM, GRU and simple cell equal ``nnx.OptimizedLSTMCell``, ``nnx.GRUCell`` and
``nnx.SimpleCell`` in outputs and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rnn_jax.convert.flax import from_flax, to_flax
from rnn_jax.nnx import RecurrentCell
from rnn_jax.recurrent.cells import CELLS
from rnn_jax.recurrent.scan import unroll

FLAX = {  # our cell -> Flax's NNX cell
    "lstm": nnx.OptimizedLSTMCell,
    "gru_reset_after": nnx.GRUCell,
    "rnn": nnx.SimpleCell,
}


def _xs(b=2, t=6, d=3, seed=0):
    return jax.random.normal(jax.random.key(seed), (b, t, d))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_under_nnx_rnn_equals_the_pure_scan(name):
    cell = RecurrentCell(name, 3, 4, rngs=nnx.Rngs(0))
    xs = _xs()
    carry, ys = nnx.RNN(cell, return_carry=True)(xs)
    want_carry, want = unroll(cell.cell, cell.pure(), xs, path="scan")
    np.testing.assert_allclose(ys, want, rtol=1e-6, atol=1e-6)
    for got, expected in zip(jax.tree.leaves(carry), jax.tree.leaves(want_carry)):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_under_nnx_bidirectional_equals_the_pure_scans():
    fwd, bwd = (RecurrentCell("lstm", 3, 4, rngs=nnx.Rngs(k)) for k in (0, 1))
    xs, lengths = _xs(), jnp.array([6, 4])
    ys = nnx.Bidirectional(nnx.RNN(fwd), nnx.RNN(bwd))(xs, seq_lengths=lengths)
    _, yf = unroll(fwd.cell, fwd.pure(), xs, seq_lengths=lengths, path="scan")
    _, yb = unroll(bwd.cell, bwd.pure(), xs, seq_lengths=lengths, reverse=True, path="scan")
    np.testing.assert_allclose(ys[0], jnp.concatenate([yf, yb], -1)[0], rtol=1e-6, atol=1e-6)
    valid = 4  # nnx.RNN runs past a sequence's end; compare its valid steps
    np.testing.assert_allclose(
        ys[1, :valid], jnp.concatenate([yf, yb], -1)[1, :valid], rtol=1e-6, atol=1e-6
    )


def _randomized(module, seed):
    """``module`` with every parameter redrawn (biases nonzero too)."""
    state = nnx.state(module, nnx.Param)
    leaves, tree = jax.tree.flatten(state.to_pure_dict())
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    drawn = [0.5 * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves)]
    nnx.replace_by_pure_dict(state, jax.tree.unflatten(tree, drawn))
    nnx.update(module, state)
    return module


@pytest.mark.parametrize("name", sorted(FLAX))
def test_equals_flax_cells_with_mapped_weights(name):
    theirs = _randomized(FLAX[name](3, 4, rngs=nnx.Rngs(0)), seed=1)
    ours = RecurrentCell.from_params(name, from_flax(theirs, name))
    xs = _xs(t=7)

    def loss(module, xs):
        return jnp.sum(jnp.sin(nnx.RNN(module)(xs)))

    want_loss, (want_grads, want_dx) = nnx.value_and_grad(loss, argnums=(0, 1))(theirs, xs)
    got_loss, (got_grads, got_dx) = nnx.value_and_grad(loss, argnums=(0, 1))(ours, xs)
    np.testing.assert_allclose(nnx.RNN(ours)(xs), nnx.RNN(theirs)(xs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5)
    np.testing.assert_allclose(got_dx, want_dx, rtol=1e-4, atol=1e-5)
    grads = got_grads.to_pure_dict()["params"]
    if name == "gru_reset_after":  # NNX's GRUCell has no bias inside the reset
        grads["bhn"] = jnp.zeros_like(grads["bhn"])
    mapped = to_flax(grads, name)  # a linear map: gradients convert as the weights do
    jax.tree.map(
        lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5),
        mapped,
        want_grads.to_pure_dict(),
    )


def test_given_params_must_fit_the_sizes():
    params = RecurrentCell("gru", 3, 4, rngs=nnx.Rngs(0)).pure()
    with pytest.raises(ValueError, match="map 3 features to 4 units, not 3 to 5"):
        RecurrentCell("gru", 3, 5, params=params)
    with pytest.raises(ValueError, match="needs rngs="):
        RecurrentCell("gru", 3, 4)
