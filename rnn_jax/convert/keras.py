"""Weights from and to Keras 3's ``LSTM``, ``GRU`` and ``SimpleRNN`` layers (any backend).

A Keras layer's ``get_weights()`` is ``[kernel [D, G*H], recurrent_kernel [H, G*H], bias]``
(no bias with ``use_bias=False``); its gates are ``i, f, c, o`` (LSTM, ours ``i, f, g, o``)
and ``z, r, h`` (GRU, ours ``z, r, n``), and its GRU's ``z`` keeps the old state, so our
``z`` block is Keras's, negated. ``GRU(reset_after=True)`` (the default) has a bias
``[2, 3H]``, input and recurrent rows, and is our ``gru_reset_after``;
``reset_after=False`` a bias ``[3H]`` and is our reset-before ``gru``. A ``Bidirectional``
layer's weights are its forward layer's, then its backward layer's.

    params = from_keras(keras_layer)                  # the cell read from the layer
    keras_layer.set_weights(to_keras(params, "lstm"))
    params = from_keras(weights_list, "gru")          # a get_weights() list, cell named
"""

from collections.abc import Sequence

import numpy as np

from rnn_jax.convert import layout
from rnn_jax.errors import ConfigError
from rnn_jax.recurrent.stack import is_bidirectional
from rnn_jax.typing import Params

CELLS = ("lstm", "gru", "gru_reset_after", "rnn", "rnn_relu", "irnn")
ORDER = (0, 1, 2, 3)  # Keras's gates come in our order


def keras_cell(layer: object) -> str:
    """Our cell for a Keras ``LSTM``, ``GRU`` or ``SimpleRNN`` layer (read from its config).

    Raises:
      ConfigError: for another layer, or activations our cells do not compute.
    """
    kind = type(layer).__name__
    config = layer.get_config()
    if kind == "SimpleRNN":
        cells = {"tanh": "rnn", "relu": "rnn_relu"}
        if config["activation"] not in cells:
            raise ConfigError(f"SimpleRNN activation {config['activation']!r}: ours are tanh, relu")
        return cells[config["activation"]]
    if kind not in ("LSTM", "GRU"):
        raise ConfigError(f"no converter for a Keras {kind}; convert LSTM, GRU, SimpleRNN layers")
    if (config["activation"], config["recurrent_activation"]) != ("tanh", "sigmoid"):
        raise ConfigError(
            f"Keras {kind} with activation {config['activation']!r} and recurrent_activation "
            f"{config['recurrent_activation']!r}: our cells compute tanh and sigmoid"
        )
    if kind == "LSTM":
        return "lstm"
    return "gru_reset_after" if config["reset_after"] else "gru"


def from_keras(source: object, cell: str | None = None) -> Params | list:
    """Our params from a Keras layer (``cell`` read from it, or checked against it), a
    ``Bidirectional`` (``{"fwd", "bwd"}``), a list of layers (a stack), or one layer's
    ``get_weights()`` list (``cell`` needed).

    Raises:
      ConfigError: for a cell Keras has no layer for, or weights that do not fit it
        (naming their shapes).
    """
    if isinstance(source, Sequence) and all(hasattr(s, "get_weights") for s in source):
        return [from_keras(layer, cell) for layer in source]
    if hasattr(source, "forward_layer"):  # Bidirectional
        return {
            "fwd": from_keras(source.forward_layer, cell),
            "bwd": from_keras(source.backward_layer, cell),
        }
    if hasattr(source, "get_weights"):
        found = keras_cell(source)
        if cell is not None and cell != found and {cell, found} != {"rnn_relu", "irnn"}:
            raise ConfigError(f"this Keras {type(source).__name__} is our {found!r}, not {cell!r}")
        return _layer_from_keras(source.get_weights(), cell or found)
    if cell is None:
        raise ConfigError("name the cell (e.g. from_keras(weights, 'lstm')) for a weights list")
    return _layer_from_keras(source, cell)


def _layer_from_keras(weights: Sequence, cell: str) -> Params:
    gates = layout.gate_count(cell, "Keras", CELLS)
    shapes = [list(np.shape(w)) for w in weights]
    if len(weights) not in (2, 3):
        raise ConfigError(
            f"a Keras {cell} layer has 3 weights (kernel, recurrent_kernel, bias) or 2 without "
            f"a bias; got {len(weights)} shaped {shapes}"
        )
    kernel, recurrent = weights[0], weights[1]
    units = np.shape(recurrent)[0]
    bias = weights[2] if len(weights) == 3 else np.zeros((gates * units,), np.float32)
    two_rows = np.ndim(bias) == 2
    if two_rows != (cell == "gru_reset_after") and len(weights) == 3:
        raise ConfigError(
            f"weights shaped {shapes}: a bias of {'two rows' if two_rows else 'one row'} is a GRU "
            f"with reset_after={two_rows}, our {'gru_reset_after' if two_rows else 'gru'}, "
            f"not {cell!r}"
        )
    bx, bh = (bias[0], bias[1]) if two_rows else (bias, np.zeros_like(bias))
    blocks = layout.Blocks(
        wx=layout.split(kernel, gates, 1),
        wh=layout.split(recurrent, gates, 1),
        bx=layout.split(bx, gates, 0),
        bh=layout.split(bh, gates, 0),
    )
    return layout.to_ours(blocks, cell, ORDER[:gates], f"Keras weights shaped {shapes}")


def to_keras(params: Params, cell: str) -> list[np.ndarray]:
    """A Keras layer's ``set_weights`` list from our params: a layer's, or a
    ``Bidirectional``'s from ``{"fwd", "bwd"}`` (forward weights, then backward).

    Raises:
      ConfigError: for a cell Keras has no layer for.
    """
    if is_bidirectional(params):
        return to_keras(params["fwd"], cell) + to_keras(params["bwd"], cell)
    gates = layout.gate_count(cell, "Keras", CELLS)
    blocks = layout.from_ours(params, cell, ORDER[:gates])
    bias = np.concatenate(blocks.bx)
    if cell == "gru_reset_after":
        bias = np.stack([bias, np.concatenate(blocks.bh)])
    return [np.concatenate(blocks.wx, axis=1), np.concatenate(blocks.wh, axis=1), bias]
