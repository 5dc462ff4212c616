"""rnn_jax.nn.ctc: the loss against a sum over every alignment, greedy and beam decoding."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.nn import ctc


def collapse(path, blank=0):
    out = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
    return tuple(out)


def labelling_probs(log_probs):
    """Every labelling's probability, by summing over all T^V frame alignments."""
    probs = {}
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        p = np.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
        probs[collapse(path)] = probs.get(collapse(path), 0.0) + p
    return probs


def test_loss_is_minus_log_the_sum_over_alignments():
    logits = jax.random.normal(jax.random.key(0), (2, 5, 3))
    log_probs = np.asarray(jax.nn.log_softmax(logits, axis=-1), np.float64)
    labels = jnp.array([[1, 2, 0], [2, 2, 1]])  # the second: "2 2 1" needs a blank between
    lengths = jnp.array([2, 3])
    got = ctc.loss(logits, jnp.array([5, 5]), labels, lengths)
    for b, want_label in enumerate([(1, 2), (2, 2, 1)]):
        want = -np.log(labelling_probs(log_probs[b])[want_label])
        assert float(got[b]) == pytest.approx(want, rel=1e-4)
    # Padding frames do not count: the first 4 frames alone.
    short = ctc.loss(logits, jnp.array([4, 4]), labels, lengths)
    want = -np.log(labelling_probs(log_probs[0, :4])[(1, 2)])
    assert float(short[0]) == pytest.approx(want, rel=1e-4)


def test_greedy_decoding_merges_repeats_then_drops_blanks():
    frames = np.array([[1, 1, 0, 1, 2, 2, 0, 0], [0, 0, 0, 0, 3, 0, 3, 3]])
    logits = np.eye(4)[frames] * 5.0
    assert ctc.greedy_decode(logits) == [[1, 1, 2], [3, 3]]
    assert ctc.greedy_decode(logits, lengths=np.array([3, 8])) == [[1], [3, 3]]


def test_beam_decoding_finds_the_most_likely_labelling():
    for seed in range(5):
        logits = jax.random.normal(jax.random.key(seed), (5, 3)) * 2.0
        log_probs = np.asarray(jax.nn.log_softmax(logits, axis=-1), np.float64)
        probs = labelling_probs(log_probs)
        best = max(probs, key=probs.get)
        assert tuple(ctc.beam_decode(log_probs, width=16)) == best


def test_exact_reads_compare_whole_labellings_and_decode_picks_greedy_or_beam():
    # Frames: 1, 1, blank, 2 -> labels [1, 2]; the second row reads [1] only.
    onehot = np.eye(4, dtype=np.float32)[[[1, 1, 0, 2], [1, 0, 0, 0]]] * 10.0
    labels = jnp.array([[1, 2], [1, 2]])
    got = ctc.exact(jnp.asarray(onehot), labels, jnp.array([2, 2]), blank=0)
    assert got.tolist() == [True, False]
    assert ctc.decode(onehot, blank=0) == ctc.decode(onehot, beam=3, blank=0) == [[1, 2], [1]]


def test_the_mean_loss_is_per_label_and_ignores_the_padding():
    logits = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 4))
    labels = jnp.array([[1, 2], [3, -1]])
    lengths = jnp.array([2, 1])

    @jax.jit
    def both(logits):
        nll = ctc.loss(logits, jnp.full((2,), 6), jnp.maximum(labels, 0), lengths)
        return ctc.mean_loss(logits, labels, lengths), jnp.mean(nll / lengths.astype(jnp.float32))

    got, want = both(logits)
    np.testing.assert_allclose(got, want, rtol=1e-6)
