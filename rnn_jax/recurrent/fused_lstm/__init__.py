"""The LSTM layer's fast path: a hand-derived backward pass (:mod:`.layer`) whose time loops
run, on a CPU, in a compiled kernel (:mod:`.cpu`, source ``lstm_cpu.cc``)."""

from rnn_jax.recurrent.fused_lstm.layer import fused_applies, lstm_layer

__all__ = ["fused_applies", "lstm_layer"]
