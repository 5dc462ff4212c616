"""rnn_jax.models.decode: beam width 1 is greedy; beams score their sequences; end pads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models import decode
from rnn_jax.models.seq2seq import AttentionDecoder

END = 1


def decoder(seed=0):
    dec = AttentionDecoder(vocab=6, memory_dim=4, embed=4, hidden=8)
    params = dec.init(jax.random.key(seed))
    params["out"]["w"] = params["out"]["w"] * 4.0  # peaked, varied distributions
    memory = jax.random.normal(jax.random.key(seed + 1), (5, 3, 4))
    return dec, params, memory


def log_prob(dec, params, memory, tokens):
    """Teacher-forced log-probability of each row of ``tokens`` up to its first end."""
    inputs = jnp.concatenate([jnp.zeros((len(tokens), 1), jnp.int32), tokens[:, :-1]], axis=1)
    logits, _ = dec.teacher_forced(params, memory, inputs)
    lp = jnp.take_along_axis(jax.nn.log_softmax(logits), tokens[..., None], axis=-1)[..., 0]
    is_end = (tokens == END).astype(jnp.int32)
    before_end = jnp.cumsum(is_end, axis=1) - is_end == 0
    return jnp.sum(jnp.where(before_end, lp, 0.0), axis=1)


@pytest.mark.slow
def test_beam_width_one_is_greedy():
    for seed in range(3):
        dec, params, memory = decoder(seed)
        start = jnp.zeros((5,), jnp.int32)
        state = dec.start(params, memory)
        greedy, _ = decode.greedy(dec.bound(params), state, start, 7, END)
        beam, score = decode.beam_search(dec.bound(params), state, start, 7, END, width=1)
        np.testing.assert_array_equal(greedy, beam)
        np.testing.assert_allclose(score, log_prob(dec, params, memory, beam), rtol=1e-5)


@pytest.mark.slow
def test_wider_beams_find_likelier_sequences_and_score_them_truly():
    dec, params, memory = decoder(3)
    start = jnp.zeros((5,), jnp.int32)
    state = dec.start(params, memory)
    greedy, _ = decode.greedy(dec.bound(params), state, start, 6, END)
    base = log_prob(dec, params, memory, greedy)
    for width in (3, 6):
        beam, score = decode.beam_search(dec.bound(params), state, start, 6, END, width=width)
        np.testing.assert_allclose(score, log_prob(dec, params, memory, beam), rtol=1e-5)
        assert np.all(score >= base - 1e-5)
        base = score
    # After the end token, only end tokens follow.
    for row in np.asarray(beam):
        if END in row:
            assert np.all(row[list(row).index(END) :] == END)


def test_to_text_stops_at_the_first_stop_id():
    vocab = ("<pad>", "<end>", "a", "b")
    assert decode.to_text(np.array([2, 3, 2, 1, 3, 0]), vocab, (0, 1)) == "a b a"
    assert decode.to_text([3, 3], vocab, (0, 1), sep="") == "bb"
    assert decode.to_text([1, 2], vocab, (0, 1)) == ""
