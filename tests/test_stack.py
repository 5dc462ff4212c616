"""Stacks compose layer by layer; bidirectional and the four input/output patterns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models import patterns
from rnn_jax.nn import dense
from rnn_jax.recurrent import stack
from rnn_jax.recurrent.gru import GRU
from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.recurrent.scan import unroll


def test_stack_equals_layers_applied_in_turn(key, tiny):
    params = stack.stack_init(key, LSTM, tiny.D, [4, 6])
    xs = jax.random.normal(key, (tiny.B, tiny.T, tiny.D))
    carries, ys = stack.stack_apply(LSTM, params, xs)
    c0, y0 = unroll(LSTM, params[0], xs)
    c1, y1 = unroll(LSTM, params[1], y0)
    np.testing.assert_allclose(ys, y1, rtol=1e-6)
    assert ys.shape == (tiny.B, tiny.T, 6)
    assert [c.h.shape for c in carries] == [(tiny.B, 4), (tiny.B, 6)]
    np.testing.assert_allclose(carries[0].c, c0.c, rtol=1e-6)


def test_stack_dropout_needs_key_and_changes_outputs(key, tiny):
    params = stack.stack_init(key, GRU, tiny.D, [4, 4])
    xs = jax.random.normal(key, (tiny.B, tiny.T, tiny.D))
    with pytest.raises(ValueError, match="dropout > 0 needs a PRNG key"):
        stack.stack_apply(GRU, params, xs, dropout=0.5)
    _, ys = stack.stack_apply(GRU, params, xs)
    _, ys_drop = stack.stack_apply(GRU, params, xs, dropout=0.5, key=key)
    assert not np.allclose(ys, ys_drop)


def test_bidirectional_halves_are_forward_and_reversed(key, tiny):
    params = stack.bidirectional_init(key, GRU, tiny.D, tiny.H)
    xs = jax.random.normal(key, (tiny.B, tiny.T, tiny.D))
    lengths = jnp.array([tiny.T, 3])
    _, ys = stack.bidirectional_apply(GRU, params, xs, seq_lengths=lengths)
    assert ys.shape == (tiny.B, tiny.T, 2 * tiny.H)
    # The backward half of the short sequence only sees its own 3 steps.
    _, yb = unroll(GRU, params["bwd"], jnp.flip(xs[1:, :3], 1))
    np.testing.assert_allclose(ys[1, :3, tiny.H :], jnp.flip(yb, 1)[0], rtol=1e-5, atol=1e-6)
    _, yf = unroll(GRU, params["fwd"], xs[:1])
    np.testing.assert_allclose(ys[0, :, : tiny.H], yf[0], rtol=1e-5, atol=1e-6)


def test_last_valid_picks_each_sequence_end():
    ys = jnp.arange(2 * 4 * 1).reshape(2, 4, 1).astype(jnp.float32)
    np.testing.assert_array_equal(stack.last_valid(ys, jnp.array([2, 4]))[:, 0], [1.0, 7.0])
    np.testing.assert_array_equal(stack.last_valid(ys)[:, 0], [3.0, 7.0])


def test_mlp_head_uses_relu_between_layers(key):
    params = dense.mlp_init(key, [3, 5, 2])
    x = jax.random.normal(key, (4, 3))
    hidden = jnp.maximum(x @ params[0]["w"] + params[0]["b"][None], 0)
    want = hidden @ params[1]["w"] + params[1]["b"][None]
    np.testing.assert_allclose(dense.mlp_apply(params, x), want, rtol=1e-6)


def test_patterns_shapes(key, tiny):
    k1, k2, k3 = jax.random.split(key, 3)
    model = {
        "rnn": stack.stack_init(k1, LSTM, tiny.D, [tiny.H]),
        "head": dense.mlp_init(k2, [tiny.H, 7]),
    }
    xs = jax.random.normal(k3, (tiny.B, tiny.T, tiny.D))
    assert patterns.seq_to_vec(LSTM, model, xs).shape == (tiny.B, 7)
    assert patterns.seq_to_seq(LSTM, model, xs).shape == (tiny.B, tiny.T, 7)
    assert patterns.vec_to_seq(LSTM, model, xs[:, 0], steps=9).shape == (tiny.B, 9, 7)
    encdec = {
        "encoder": stack.stack_init(k1, LSTM, tiny.D, [tiny.H]),
        "decoder": stack.stack_init(k2, LSTM, 2, [tiny.H]),
        "head": dense.mlp_init(k3, [tiny.H, 2]),
    }
    out = patterns.encoder_decoder(LSTM, encdec, xs, jnp.ones((tiny.B, 6, 2)))
    assert out.shape == (tiny.B, 6, 2)


def test_seq_to_vec_ignores_padding(key, tiny):
    k1, k2, k3 = jax.random.split(key, 3)
    model = {
        "rnn": stack.stack_init(k1, GRU, tiny.D, [tiny.H]),
        "head": dense.mlp_init(k2, [tiny.H, 3]),
    }
    xs = jax.random.normal(k3, (tiny.B, tiny.T, tiny.D))
    padded = xs.at[1, 3:].set(100.0)
    out = patterns.seq_to_vec(GRU, model, padded, seq_lengths=jnp.array([tiny.T, 3]))
    ref = patterns.seq_to_vec(GRU, model, xs[1:, :3])
    np.testing.assert_allclose(out[1], ref[0], rtol=1e-5, atol=1e-6)


def test_encoder_decoder_starts_decoder_from_encoder_state(key, tiny):
    k1, k2, k3 = jax.random.split(key, 3)
    p = {
        "encoder": stack.stack_init(k1, GRU, tiny.D, [tiny.H]),
        "decoder": stack.stack_init(k2, GRU, 2, [tiny.H]),
        "head": dense.mlp_init(k3, [tiny.H, 2]),
    }
    xs = jax.random.normal(k3, (tiny.B, tiny.T, tiny.D))
    dec_in = jnp.ones((tiny.B, 3, 2))
    out = patterns.encoder_decoder(GRU, p, xs, dec_in)
    h_enc, _ = unroll(GRU, p["encoder"][0], xs)
    _, ys = unroll(GRU, p["decoder"][0], dec_in, carry=h_enc)
    np.testing.assert_allclose(out, dense.mlp_apply(p["head"], ys), rtol=1e-5, atol=1e-6)
