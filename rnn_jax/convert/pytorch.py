"""Weights from and to PyTorch's ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` state dicts.

PyTorch keeps per layer ``weight_ih_l{k}`` [G*H, D], ``weight_hh_l{k}`` [G*H, H] and two
biases ``bias_ih_l{k}``, ``bias_hh_l{k}`` [G*H] (``_reverse`` for a bidirectional layer's
backward direction); its LSTM's gates are ``i, f, g, o`` like ours, its GRU's ``r, z, n``
(ours ``z, r, n``) in the reset-after form, whose ``b_hn`` stays inside the reset (our
``bhn``), and whose ``z`` keeps the old state (``h' = (1 - z) n + z h``) where ours takes
the new one: our ``z`` block is PyTorch's, negated. A layer here is the cell's params, a
stack a list of them, a bidirectional stack a list of ``{"fwd": params, "bwd": params}``
(:mod:`rnn_jax.recurrent.stack`).

    params = from_torch(torch_lstm.state_dict(), "lstm")      # list, one per layer
    weights = to_torch(params, "lstm")                         # numpy arrays
    torch_lstm.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
"""

import re
from collections.abc import Mapping

import numpy as np

from rnn_jax.convert import layout
from rnn_jax.errors import ConfigError
from rnn_jax.recurrent.stack import is_bidirectional
from rnn_jax.typing import Params

CELLS = ("lstm", "gru_reset_after", "rnn", "rnn_relu", "irnn")
# Our gate k is PyTorch's block ORDER[k]: LSTM i, f, g, o in both; GRU ours z, r, n from r, z, n.
ORDER = {"lstm": (0, 1, 2, 3), "gru_reset_after": (1, 0, 2)}


def _layer_from_torch(sd: Mapping, suffix: str, cell: str) -> Params:
    gates = layout.gate_count(cell, "PyTorch", CELLS)
    w_ih, w_hh = sd[f"weight_ih{suffix}"], sd[f"weight_hh{suffix}"]
    rows, hid = np.shape(w_hh)
    if rows != gates * hid or np.shape(w_ih)[0] != rows:
        raise ConfigError(
            f"weight_hh{suffix} is {list(np.shape(w_hh))} and weight_ih{suffix} "
            f"{list(np.shape(w_ih))}: a {cell} layer of {hid} units has {gates} gate blocks, "
            f"{gates * hid} rows; is this state dict another kind of layer?"
        )
    zeros = np.zeros((rows,), np.float32)
    blocks = layout.Blocks(
        wx=[w.T for w in layout.split(w_ih, gates, 0)],
        wh=[w.T for w in layout.split(w_hh, gates, 0)],
        bx=layout.split(sd.get(f"bias_ih{suffix}", zeros), gates, 0),
        bh=layout.split(sd.get(f"bias_hh{suffix}", zeros), gates, 0),
    )
    return layout.to_ours(blocks, cell, ORDER.get(cell, (0,)), f"PyTorch layer{suffix}")


def from_torch(state_dict: Mapping, cell: str) -> list:
    """Our stack's params from a PyTorch ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` state dict
    (tensors or arrays): a list of per-layer params, or of ``{"fwd", "bwd"}`` for a
    bidirectional one.

    Raises:
      ConfigError: for a cell without a PyTorch counterpart, a state dict with no layers,
        or weights whose shapes do not fit the cell (naming both).
    """
    names = [re.fullmatch(r"(weight|bias)_(ih|hh)_l(\d+)(_reverse)?", k) for k in state_dict]
    layers = sorted({int(m.group(3)) for m in names if m})
    if not layers or layers != list(range(len(layers))):
        raise ConfigError(
            f"no PyTorch RNN layers (weight_ih_l0, ...) in this state dict: {sorted(state_dict)}; "
            "pass the recurrent module's own state_dict(), without a model's key prefixes"
        )
    bidirectional = any(k.endswith("_reverse") for k in state_dict)
    out = []
    for k in layers:
        fwd = _layer_from_torch(state_dict, f"_l{k}", cell)
        if bidirectional:
            out.append({"fwd": fwd, "bwd": _layer_from_torch(state_dict, f"_l{k}_reverse", cell)})
        else:
            out.append(fwd)
    return out


def _layer_to_torch(params: Params, suffix: str, cell: str) -> dict[str, np.ndarray]:
    layout.gate_count(cell, "PyTorch", CELLS)
    blocks = layout.from_ours(params, cell, ORDER.get(cell, (0,)))
    return {
        f"weight_ih{suffix}": np.concatenate([w.T for w in blocks.wx]),
        f"weight_hh{suffix}": np.concatenate([w.T for w in blocks.wh]),
        f"bias_ih{suffix}": np.concatenate(blocks.bx),
        f"bias_hh{suffix}": np.concatenate(blocks.bh),
    }


def to_torch(layers: list, cell: str) -> dict[str, np.ndarray]:
    """A PyTorch state dict (numpy arrays) from our stack's params (:func:`from_torch`'s
    layout): each layer's bias goes to ``bias_ih``, ``bias_hh`` is zero but for the GRU's
    ``b_hn``.

    Raises:
      ConfigError: for a cell without a PyTorch counterpart.
    """
    out = {}
    for k, layer in enumerate(layers):
        if is_bidirectional(layer):
            out.update(_layer_to_torch(layer["fwd"], f"_l{k}", cell))
            out.update(_layer_to_torch(layer["bwd"], f"_l{k}_reverse", cell))
        else:
            out.update(_layer_to_torch(layer, f"_l{k}", cell))
    return out
