"""rnn_jax: recurrent networks (RNN, LSTM, GRU) as pure JAX functions."""

from rnn_jax.cells import GRU, GRU_RESET_AFTER, LSTM, RNN_RELU, RNN_TANH, Cell, LSTMCarry, get_cell
from rnn_jax.scan import flip_valid, unroll

__all__ = [
    "GRU",
    "GRU_RESET_AFTER",
    "LSTM",
    "RNN_RELU",
    "RNN_TANH",
    "Cell",
    "LSTMCarry",
    "flip_valid",
    "get_cell",
    "unroll",
]
