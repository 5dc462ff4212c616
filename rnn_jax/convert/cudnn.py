"""Weights from and to cuDNN's packed LSTM layout, as ``jax.experimental.rnn`` takes it.

cuDNN (like PyTorch, whose layout it is) keeps one flat float32 array: for each layer and
direction ``W_ih`` [4H, D] and ``W_hh`` [4H, H], then for each ``b_ih`` and ``b_hh`` [4H];
gates ``i, f, g, o`` as ours (:func:`rnn_jax.recurrent.fused.cudnn.pack`).

    weights = to_cudnn(layers)             # for jax.experimental.rnn.lstm
    layers = from_cudnn(weights, input_size=28, hidden_size=128, num_layers=2)
"""

from collections.abc import Sequence

import numpy as np
from jax.experimental import rnn as jax_rnn

from rnn_jax.convert.pytorch import from_torch
from rnn_jax.errors import ConfigError
from rnn_jax.recurrent.fused.cudnn import pack
from rnn_jax.typing import Params


def to_cudnn(layers: Sequence[Params]) -> np.ndarray:
    """cuDNN's flat weights for a stack of our LSTM layers (``{"fwd", "bwd"}`` for a
    bidirectional one); each bias goes to ``b_ih``, ``b_hh`` is zero."""
    return np.asarray(pack(layers))


def from_cudnn(
    weights: np.ndarray,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
) -> list:
    """Our LSTM stack's params from cuDNN's flat weights of these sizes.

    Raises:
      ConfigError: if the weights' count is not that of an LSTM of these sizes.
    """
    weights = np.asarray(weights, np.float32).ravel()
    dims = (input_size, hidden_size, num_layers, bidirectional)
    want = jax_rnn.get_num_params_in_lstm(*dims)
    if weights.size != want:
        raise ConfigError(
            f"{weights.size} cuDNN weights, but an LSTM of input_size={input_size}, "
            f"hidden_size={hidden_size}, num_layers={num_layers}, bidirectional={bidirectional} "
            f"has {want}: check the sizes"
        )
    w_ih, w_hh, b_ih, b_hh = jax_rnn.unpack_lstm_weights(weights, *dims)
    directions = ("", "_reverse") if bidirectional else ("",)
    state_dict = {}
    for k in range(num_layers):
        for j, suffix in enumerate(directions):
            pseudo = k * len(directions) + j
            for name, part in (("weight_ih", w_ih), ("weight_hh", w_hh)):
                state_dict[f"{name}_l{k}{suffix}"] = part[pseudo]
            for name, part in (("bias_ih", b_ih), ("bias_hh", b_hh)):
                state_dict[f"{name}_l{k}{suffix}"] = part[pseudo]
    return from_torch(state_dict, "lstm")
