"""PyTorch state dicts converted to our params give PyTorch's own outputs (nn.LSTM, nn.GRU,
nn.RNN; two layers, one and two directions), and back again; misfits are one clear error."""

import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.convert.pytorch import from_torch, to_torch
from rnn_jax.errors import ConfigError
from rnn_jax.recurrent.cells import get_cell
from rnn_jax.recurrent.scan import unroll
from rnn_jax.recurrent.stack import bidirectional_apply

torch = pytest.importorskip("torch")

LAYERS = {  # our cell -> PyTorch's layer
    "lstm": lambda **kw: torch.nn.LSTM(**kw),
    "gru_reset_after": lambda **kw: torch.nn.GRU(**kw),
    "rnn": lambda **kw: torch.nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: torch.nn.RNN(nonlinearity="relu", **kw),
}


def _torch_layer(cell, bidirectional, seed=0):
    torch.manual_seed(seed)
    return LAYERS[cell](
        input_size=3, hidden_size=5, num_layers=2, batch_first=True, bidirectional=bidirectional
    )


def _ours(cell_name, layers, xs):
    cell = get_cell(cell_name)
    for layer in layers:
        if "fwd" in layer:
            _, xs = bidirectional_apply(cell, layer, xs)
        else:
            _, xs = unroll(cell, layer, xs)
    return np.asarray(xs)


def _theirs(module, xs):
    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(xs)))[0].numpy()


@pytest.mark.parametrize("cell", list(LAYERS))
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one-way", "bidirectional"])
def test_converted_weights_give_pytorchs_outputs(cell, bidirectional):
    module = _torch_layer(cell, bidirectional)
    xs = jnp.asarray(np.random.default_rng(0).normal(size=(4, 6, 3)), jnp.float32)
    layers = from_torch(module.state_dict(), cell)
    assert len(layers) == 2
    np.testing.assert_allclose(_ours(cell, layers, xs), _theirs(module, xs), atol=1e-5)

    back = _torch_layer(cell, bidirectional, seed=1)  # other weights, then ours loaded
    back.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch(layers, cell).items()})
    np.testing.assert_allclose(_theirs(back, xs), _theirs(module, xs), atol=1e-5)


def test_the_reset_before_gru_has_no_pytorch_counterpart():
    with pytest.raises(ConfigError, match="gru_reset_after"):
        from_torch(_torch_layer("gru_reset_after", False).state_dict(), "gru")


def test_a_state_dict_of_another_layer_names_the_shapes():
    with pytest.raises(ConfigError, match=r"weight_hh_l0 is \[20, 5\].*3 gate blocks, 15 rows"):
        from_torch(_torch_layer("lstm", False).state_dict(), "gru_reset_after")


@pytest.mark.parametrize("keys", [["head_layer.weight"], ["rnn.weight_ih_l0", "rnn.weight_hh_l0"]])
def test_a_state_dict_without_layers_is_refused(keys):
    with pytest.raises(ConfigError, match="no PyTorch RNN layers.*own state_dict"):
        from_torch({k: np.zeros((2, 2)) for k in keys}, "lstm")
