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

from rnn_jax.errors import ConfigError
from rnn_jax.typing import Params

# Our cell -> (gates per unit, our gate order as indices into PyTorch's blocks).
_LAYOUTS = {
    "lstm": (4, (0, 1, 2, 3)),  # i, f, g, o in both
    "gru_reset_after": (3, (1, 0, 2)),  # ours z, r, n from PyTorch's r, z, n
    "rnn": (1, (0,)),
    "rnn_relu": (1, (0,)),
    "irnn": (1, (0,)),
}


def _layout(cell: str) -> tuple[int, tuple[int, ...]]:
    if cell == "gru":
        raise ConfigError(
            "PyTorch's nn.GRU is the reset-after GRU: convert it as cell 'gru_reset_after' "
            "(the reset-before 'gru' has no PyTorch counterpart)"
        )
    if cell not in _LAYOUTS:
        raise ConfigError(f"no PyTorch layout for cell {cell!r}; choose one of {sorted(_LAYOUTS)}")
    return _LAYOUTS[cell]


def _blocks(array: np.ndarray, gates: int) -> list[np.ndarray]:
    return np.split(array, gates, axis=0)


def _layer_from_torch(sd: Mapping, suffix: str, cell: str) -> Params:
    gates, order = _layout(cell)
    w_ih = np.asarray(sd[f"weight_ih{suffix}"], np.float32)
    w_hh = np.asarray(sd[f"weight_hh{suffix}"], np.float32)
    rows, hid = w_hh.shape
    if rows != gates * hid or w_ih.shape[0] != rows:
        raise ConfigError(
            f"weight_hh{suffix} is {list(w_hh.shape)} and weight_ih{suffix} "
            f"{list(w_ih.shape)}: a {cell} layer of {hid} units has {gates} gate blocks, "
            f"{gates * hid} rows; is this state dict another kind of layer?"
        )
    zeros = np.zeros((rows,), np.float32)
    b_ih = np.asarray(sd.get(f"bias_ih{suffix}", zeros), np.float32)
    b_hh = np.asarray(sd.get(f"bias_hh{suffix}", zeros), np.float32)

    def ours(array):  # PyTorch's gate blocks in our order
        blocks = _blocks(array, gates)
        return np.concatenate([blocks[i] for i in order], axis=0)

    params = {"wx": ours(w_ih).T.copy(), "wh": ours(w_hh).T.copy()}
    if cell == "gru_reset_after":  # b_hn stays inside the reset
        b_i, b_h = _blocks(b_ih, 3), _blocks(b_hh, 3)
        params["b"] = ours(np.concatenate([b_i[0] + b_h[0], b_i[1] + b_h[1], b_i[2]]))
        params["bhn"] = b_h[2]
        params = _flip_update_gate(params, hid)
    else:
        params["b"] = ours(b_ih + b_hh)
    return params


def _flip_update_gate(params: Params, hid: int) -> Params:
    """A GRU's update gate ``z`` (our first block) as ``1 - z``: its weights and bias negated."""
    flipped = dict(params)
    for name in ("wx", "wh", "b"):
        array = np.array(params[name])
        array[..., :hid] *= -1
        flipped[name] = array
    return flipped


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
    gates, order = _layout(cell)
    inverse = np.argsort(order)

    def theirs(array):  # our gate blocks in PyTorch's order
        blocks = _blocks(array, gates)
        return np.concatenate([blocks[i] for i in inverse], axis=0)

    hid = np.shape(params["wh"])[0]
    if cell == "gru_reset_after":
        params = _flip_update_gate(params, hid)
    wx, wh = np.asarray(params["wx"], np.float32), np.asarray(params["wh"], np.float32)
    b = np.asarray(params["b"], np.float32)
    b_hh = np.zeros_like(b)
    if cell == "gru_reset_after":
        b_hh = np.concatenate([np.zeros_like(b[: 2 * hid]), np.asarray(params["bhn"], np.float32)])
    return {
        f"weight_ih{suffix}": theirs(wx.T),
        f"weight_hh{suffix}": theirs(wh.T),
        f"bias_ih{suffix}": theirs(b),
        f"bias_hh{suffix}": theirs(b_hh),
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
        if isinstance(layer, Mapping) and "fwd" in layer:
            out.update(_layer_to_torch(layer["fwd"], f"_l{k}", cell))
            out.update(_layer_to_torch(layer["bwd"], f"_l{k}_reverse", cell))
        else:
            out.update(_layer_to_torch(layer, f"_l{k}", cell))
    return out
