"""Fused recurrent layers: a hand-derived backward pass per cell (:mod:`.lstm`, :mod:`.gru`,
:mod:`.rnn`) whose time loops run, on a CPU in float32, in a compiled kernel (:mod:`.kernel`)."""
