"""Recurrences: the cell contract and registry, the cells, and running them over time.

Importing this package registers the built-in cells (rnn, rnn_relu, irnn, lstm, gru,
gru_reset_after, and the linear recurrences mingru, minlstm, lru).
"""

from rnn_jax.recurrent import gru, linear, lstm, rnn  # noqa: F401  (registers the cells)
