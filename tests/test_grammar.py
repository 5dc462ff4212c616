"""rnn_jax.evaluation.grammar: bins of inner lengths and the balanced long-range accuracy
(what a prediction counts as is tested with the Reber experiment, on real strings)."""

import numpy as np

from rnn_jax.evaluation import grammar


def test_means_per_length_bin_leave_empty_bins_empty():
    values = np.array([1.0, 0.0, 1.0, 1.0])
    inner = np.array([5, 6, 12, 13])
    assert grammar.by_length(values, inner, (5, 19), 5) == [0.5, 1.0, None]


def test_balanced_accuracy_is_the_mean_of_both_kinds():
    assert grammar.balanced([1.0, 0.5, None], [0.0, 0.5, 1.0], [0.3, 0.3, 0.3]) == [0.5, 0.5, None]
