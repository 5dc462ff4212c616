"""Flax cells' params converted to ours give Flax's own outputs (linen's and NNX's LSTM,
GRU and simple cells, in both their layouts), and back again; misfits are one clear error.
(NNX's fused-gate cells against ours in values and gradients: tests/test_nnx_cells.py.)"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rnn_jax.convert.flax import from_flax, to_flax, to_flax_state
from rnn_jax.errors import ConfigError
from rnn_jax.recurrent.cells import get_cell
from rnn_jax.recurrent.scan import unroll

XS = jax.random.normal(jax.random.key(0), (2, 5, 3))
LINEN = {  # (our cell, linen's cell)
    "lstm": nn.LSTMCell(4),
    "lstm-optimized": nn.OptimizedLSTMCell(4),
    "gru_reset_after": nn.GRUCell(4),
    "rnn": nn.SimpleCell(4),
    "rnn_relu": nn.SimpleCell(4, activation_fn=nn.relu),
}


def _redrawn(tree, seed):
    leaves, structure = jax.tree.flatten(tree)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(
        structure, [0.5 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)]
    )


def _ours(cell, params):
    return unroll(get_cell(cell), params, XS, path="scan")[1]


@pytest.mark.parametrize("name", sorted(LINEN))
def test_linen_cells_give_linen_outputs_and_round_trip(name):
    cell = name.split("-")[0]
    model = nn.RNN(LINEN[name])
    variables = _redrawn(model.init(jax.random.key(1), XS), seed=2)
    params = from_flax(variables, cell)
    np.testing.assert_allclose(_ours(cell, params), model.apply(variables, XS), atol=1e-5)
    back = to_flax(params, cell, api="linen")
    jax.tree.map(np.testing.assert_array_equal, back, variables["params"]["cell"])


def test_nnx_per_gate_lstm_gives_its_outputs():
    theirs = nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0))
    state = nnx.state(theirs, nnx.Param)
    nnx.replace_by_pure_dict(state, _redrawn(state.to_pure_dict(), seed=3))
    nnx.update(theirs, state)
    np.testing.assert_allclose(
        _ours("lstm", from_flax(theirs, "lstm")), nnx.RNN(theirs)(XS), atol=1e-5
    )


@pytest.mark.parametrize(
    "cell, module",
    [("lstm", nnx.OptimizedLSTMCell), ("gru_reset_after", nnx.GRUCell), ("rnn", nnx.SimpleCell)],
)
def test_ours_loaded_into_nnx_cells(cell, module):
    params = get_cell(cell).init(jax.random.key(4), 3, 4)
    params = {**params, "b": 0.3 * jnp.ones_like(params["b"])}
    theirs = module(3, 4, rngs=nnx.Rngs(0))
    nnx.update(theirs, to_flax_state(theirs, params, cell))
    np.testing.assert_allclose(nnx.RNN(theirs)(XS), _ours(cell, params), atol=1e-5)
    jax.tree.map(np.testing.assert_array_equal, from_flax(theirs, cell), params)


def test_misfits_are_clear_errors():
    params = get_cell("gru_reset_after").init(jax.random.key(0), 3, 4)
    with pytest.raises(ConfigError, match="NNX's GRUCell has no bias inside its reset"):
        to_flax({**params, "bhn": jnp.ones(4)}, "gru_reset_after")
    with pytest.raises(ConfigError, match=r"keys \['dense'\]; expected dense_i and dense_h"):
        from_flax({"dense": {}}, "lstm")
    lstm = nnx.state(nnx.OptimizedLSTMCell(3, 4, rngs=nnx.Rngs(0)), nnx.Param).to_pure_dict()
    with pytest.raises(ConfigError, match=r"shaped \[3, 16\] do not split into 3 gate blocks"):
        from_flax(lstm, "gru_reset_after")
    with pytest.raises(
        ConfigError, match=r"recurrent kernels per gate are \[\(4, 16\)\], expected \(16, 16\)"
    ):
        from_flax(lstm, "rnn_relu")  # 16 columns as one gate of 16 units
    with pytest.raises(ConfigError, match="use 'gru_reset_after'"):
        from_flax(lstm, "gru")
