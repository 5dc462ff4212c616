"""The LSTM layer's fast path: a hand-derived backward pass (:mod:`.fused`) whose time loops
run, on a CPU, in a compiled kernel (:mod:`.cpu`, source ``lstm_cpu.cc``)."""

from rnn_jax.lstm.fused import lstm_scan

__all__ = ["lstm_scan"]
