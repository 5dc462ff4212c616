"""rnn_jax.evaluation.text_metrics on cases worked out by hand."""

import math

import pytest

from rnn_jax.evaluation import text_metrics as tm


def test_edit_distance_and_error_rates():
    assert tm.edit_distance("kitten", "sitting") == 3
    assert tm.edit_distance([1, 2, 3], [1, 3]) == 1
    assert tm.error_rate([[1, 2], [5]], [[1, 2, 3], [4]]) == pytest.approx(2 / 4)
    words = ["a seven left of a two".split()]
    assert tm.error_rate(words, ["a nine left of two".split()]) == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="all empty"):
        tm.error_rate([[1]], [[]])


def test_exact_match():
    assert tm.exact_match([[1, 2], [3]], [(1, 2), (4,)]) == 0.5
    with pytest.raises(ValueError, match="as many hypotheses as references"):
        tm.exact_match([[1]], [[1], [2]])


def test_bleu4():
    assert tm.bleu4(["a b c d e f"], ["a b c d e f"]) == pytest.approx(100.0)
    # 1- to 4-gram precisions 5/6, 4/5, 3/4, 2/3, no brevity penalty.
    want = 100 * math.exp(sum(math.log(p) for p in (5 / 6, 4 / 5, 3 / 4, 2 / 3)) / 4)
    assert tm.bleu4(["a b c d e f"], ["a b c d e g"]) == pytest.approx(want, abs=1e-6)


def test_scores_by_group_and_of_sequences():
    hyps, refs = [[1, 2], [3], [4, 4]], [[1, 2], [3, 3], [4, 4]]
    by = tm.grouped(tm.exact_match, hyps, refs, [2, 2, 1])
    assert by == {1: 1.0, 2: 0.5}
    assert tm.sequence_scores(hyps, refs) == {"n": 3, "seq_accuracy": 2 / 3, "cer": 1 / 6}
