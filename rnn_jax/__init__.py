"""rnn_jax: recurrent networks as pure JAX functions: the cells, their contract and
registry, and :func:`unroll` to run any of them over time."""

from rnn_jax.recurrent.cells import Cell, LayerPath, get_cell, register
from rnn_jax.recurrent.gru import GRU, GRU_RESET_AFTER
from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.recurrent.rnn import RNN_RELU, RNN_TANH
from rnn_jax.recurrent.scan import flip_valid, unroll
from rnn_jax.typing import LSTMCarry

__all__ = [
    "GRU",
    "GRU_RESET_AFTER",
    "LSTM",
    "RNN_RELU",
    "RNN_TANH",
    "Cell",
    "LayerPath",
    "LSTMCarry",
    "flip_valid",
    "get_cell",
    "register",
    "unroll",
]
