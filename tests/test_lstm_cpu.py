"""The compiled CPU kernel's LSTM loops equal XLA's, value for value, padded batches too."""

import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.recurrent.fused_lstm import cpu as lstm_cpu
from rnn_jax.recurrent.fused_lstm import layer as lstm_fused
from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.recurrent.scan import unroll
from rnn_jax.typing import LSTMCarry

# (T, B, D, H): B=5 and H=7 leave row and lane tails; B=40 runs on two threads,
# H=33 is two 16-lane chunks and a tail.
SHAPES = [(3, 5, 4, 7), (4, 40, 3, 33)]


@pytest.fixture(scope="module")
def kernel():
    if os.environ.get("RNN_JAX_CPU_KERNEL") == "0":
        pytest.skip("switched off by RNN_JAX_CPU_KERNEL=0")
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler: the XLA loops run instead")
    assert lstm_cpu.available(), "the CPU kernel failed to build (see the warning)"


def _problem(t, b, d, h, seed=0):
    k = jax.random.split(jax.random.key(seed), 6)
    params = LSTM.init(k[0], d, h)
    params["b"] = 0.1 * jax.random.normal(k[1], params["b"].shape)
    carry = LSTMCarry(*jax.random.normal(k[2], (2, b, h)))
    xs = jax.random.normal(k[3], (t, b, d))
    # Rows of every length from 0 to t, mixed (full rows run as in an unpadded batch).
    lengths = jax.random.permutation(k[5], jnp.arange(b, dtype=jnp.int32) % (t + 1))
    return params, carry, xs, lengths, k[4]


def _xla_only(monkeypatch):
    monkeypatch.setattr(lstm_fused, "_use_kernel", lambda xs: False)


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_equals_xla_loop(kernel, monkeypatch, shape):
    params, carry, xs, lengths, _ = _problem(*shape)
    assert lstm_fused._use_kernel(xs)
    got = lstm_fused._forward(params, carry, xs, lengths, 1)
    _xla_only(monkeypatch)
    want = lstm_fused._forward(params, carry, xs, lengths, 1)
    valid = (jnp.arange(xs.shape[0])[:, None] < lengths[None, :])[..., None]
    # Past a row's length its gate slots are scratch (the backward pass reads none of them).
    got = (*got[:1], jnp.where(valid, got[1], 0), *got[2:])
    want = (*want[:1], jnp.where(valid, want[1], 0), *want[2:])
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_equals_xla_loop(kernel, monkeypatch, shape):
    params, carry, xs, lengths, key = _problem(*shape)
    _, gates, hs, cs = lstm_fused._forward(params, carry, xs, lengths, 1)
    k1, k2, k3 = jax.random.split(key, 3)
    cts = (
        (jax.random.normal(k1, carry.h.shape), jax.random.normal(k2, carry.c.shape)),
        jax.random.normal(k3, hs.shape),
    )
    got = lstm_fused._backward(params, carry, cs, gates, lengths, cts, 1)
    _xla_only(monkeypatch)
    want = lstm_fused._backward(params, carry, cs, gates, lengths, cts, 1)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padded", [False, True])
def test_gradients_equal_autodiff_in_float32(kernel, padded):
    params, carry, xs, lengths, key = _problem(*SHAPES[1])
    lengths = lengths if padded else None
    w = jax.random.normal(key, (xs.shape[0], xs.shape[1], carry.h.shape[-1]))

    def loss(path, params, carry, xs):
        (h, c), ys = unroll(
            LSTM, params, xs, carry=carry, seq_lengths=lengths, path=path, time_major=True
        )
        return jnp.sum(ys * w) + jnp.sum(h * c)

    grads = jax.grad(loss, argnums=(1, 2, 3))
    got = grads("fused", params, carry, xs)
    want = grads("scan", params, carry, xs)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_switched_off_by_environment(monkeypatch):
    monkeypatch.setenv("RNN_JAX_CPU_KERNEL", "0")
    assert not lstm_cpu.available.__wrapped__()


def test_without_a_compiler_warns_and_keeps_xla_loops(monkeypatch, tmp_path):
    monkeypatch.delenv("RNN_JAX_CPU_KERNEL", raising=False)
    monkeypatch.setenv("RNN_JAX_CACHE", str(tmp_path))  # nothing cached there
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    with pytest.warns(UserWarning, match="XLA's loops"):
        assert not lstm_cpu.available.__wrapped__()


@pytest.mark.slow
@pytest.mark.parametrize("t, b, d, h", SHAPES)
def test_kernel_under_vmap_equals_per_member_calls(kernel, t, b, d, h):
    """A member axis (a vmapped sweep) runs as one kernel call, with each member's own
    weights, and gives each member's values and gradients."""
    problems = [_problem(t, b, d, h, seed) for seed in range(3)]
    w = jax.random.normal(jax.random.key(9), (t, b, h))

    def loss(params, carry, xs, lengths):
        (h_t, c_t), ys = lstm_fused.lstm_layer(params, carry, xs, lengths)
        return jnp.sum(w * ys) + jnp.sum(h_t * c_t)

    grads = jax.value_and_grad(loss, argnums=(0, 1, 2))
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[p[:4] for p in problems])
    batched = jax.jit(jax.vmap(grads))
    hlo = batched.lower(*stacked).as_text()
    assert hlo.count("rnn_jax_lstm_forward") == 1 and hlo.count("rnn_jax_lstm_backward") == 1
    assert f"tensor<3x{t}x{b}x{4 * h}xf32>" in hlo  # the member axis reaches the kernel
    got = batched(*stacked)
    for m, problem in enumerate(problems):
        want = jax.jit(grads)(*problem[:4])
        for a, b_ in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
            np.testing.assert_allclose(b_[m], a, rtol=2e-5, atol=2e-5)
