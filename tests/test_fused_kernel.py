"""The compiled CPU kernel's loops equal XLA's and the generic scan's, for every fused cell:
values and gradients, padded and reversed batches, odd sizes that leave edge tiles, and a
vmapped member axis in one call; without a compiler the layers keep XLA's loops."""

import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.recurrent.cells import CELLS
from rnn_jax.recurrent.fused import kernel as fused_kernel
from rnn_jax.recurrent.scan import unroll
from rnn_jax.recurrent.stack import stack_apply, stack_init

FUSED = [c for c in CELLS.values() if any(p.name == "fused" for p in c.paths)]
# (T, B, D, H): B=5 and H=7 leave row and lane tails; B=40 runs on two threads,
# H=33 is two 16-lane chunks and a tail.
SHAPES = [(3, 5, 4, 7), (4, 40, 3, 33)]


@pytest.fixture(scope="module")
def kernel():
    if os.environ.get("RNN_JAX_CPU_KERNEL") == "0":
        pytest.skip("switched off by RNN_JAX_CPU_KERNEL=0")
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler: the XLA loops run instead")
    assert fused_kernel.available(), "the CPU kernel failed to build (see the warning)"


def _problem(cell, t, b, d, h, seed=0):
    """Params with non-zero biases, a random carry, time-major inputs, mixed lengths, and
    output weights."""
    k = jax.random.split(jax.random.key(seed), 6)
    params = cell.init(k[0], d, h)
    params = {
        name: p + 0.1 * jax.random.normal(k[1], p.shape) if name.startswith("b") else p
        for name, p in params.items()
    }
    carry = cell.init_carry(params, (b,))
    leaves = [
        jax.random.normal(kk, x.shape)
        for kk, x in zip(jax.random.split(k[2], 2), jax.tree.leaves(carry))
    ]
    carry = jax.tree.unflatten(jax.tree.structure(carry), leaves)
    xs = jax.random.normal(k[3], (t, b, d))
    # Rows of every length from 0 to t, mixed (full rows run as in an unpadded batch).
    lengths = jax.random.permutation(k[5], jnp.arange(b, dtype=jnp.int32) % (t + 1))
    w = jax.random.normal(k[4], (t, b, h))
    return params, carry, xs, lengths, w


def _value_and_grads(cell, path, params, carry, xs, lengths, w, reverse=False):
    def loss(params, carry, xs):
        final, ys = unroll(
            cell,
            params,
            xs,
            carry=carry,
            seq_lengths=lengths,
            reverse=reverse,
            path=path,
            time_major=True,
        )
        return jnp.sum(ys * w) + sum(jnp.sum(jnp.sin(c)) for c in jax.tree.leaves(final)), ys

    return jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(params, carry, xs)


def _assert_close(got, want, tol):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        scale = max(1.0, float(jnp.max(jnp.abs(b))))  # relu layers' gradients reach ~1e3
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
@pytest.mark.parametrize("shape", SHAPES, ids=["5x7", "40x33"])
def test_kernel_equals_the_generic_scan(kernel, cell, shape):
    """Kernel against autodiff of the scan: outputs, final carry and every gradient."""
    problem = _problem(cell, *shape)
    for reverse, lengths in [(False, problem[3]), (True, problem[3]), (False, None)]:
        args = (*problem[:3], lengths, problem[4], reverse)
        got = _value_and_grads(cell, "fused", *args)
        want = _value_and_grads(cell, "scan", *args)
        _assert_close(got, want, 2e-5)


@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
@pytest.mark.parametrize("shape", SHAPES, ids=["5x7", "40x33"])
def test_inference_equals_the_generic_scan(kernel, cell, shape):
    """Without a gradient to take: the LSTM's own inference loop, the others' forward loop."""
    params, carry, xs, lengths, _ = _problem(cell, *shape)

    def run(path, reverse):
        kw = {"seq_lengths": lengths, "reverse": reverse, "time_major": True}
        return jax.jit(lambda p: unroll(cell, p, xs, carry=carry, path=path, **kw))

    if cell.name == "lstm":
        assert "rnn_jax_lstm_infer" in run("fused", False).lower(params).as_text()
    for reverse in (False, True):
        _assert_close(run("fused", reverse)(params), run("scan", reverse)(params), 2e-5)


@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
def test_stacked_kernel_layers_equal_the_generic_scan(kernel, cell):
    """Two layers of 33 on 40 rows, padded: the upper layer's input gradient feeds the lower
    layer's backward loop."""
    t, b, d, h = SHAPES[1]
    params = stack_init(jax.random.key(3), cell, d, [h, h])
    xs = jax.random.normal(jax.random.key(4), (b, t, d))
    lengths = jax.random.permutation(jax.random.key(5), jnp.arange(b, dtype=jnp.int32) % (t + 1))
    w = jax.random.normal(jax.random.key(6), (b, t, h))

    def loss(path, params, xs):
        return jnp.sum(stack_apply(cell, params, xs, seq_lengths=lengths, path=path)[1] * w)

    got = jax.grad(loss, argnums=(1, 2))("fused", params, xs)
    want = jax.grad(loss, argnums=(1, 2))("scan", params, xs)
    _assert_close(got, want, 2e-5)


@pytest.mark.slow
@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
@pytest.mark.parametrize("shape", SHAPES, ids=["5x7", "40x33"])
def test_kernel_equals_xla_loops(kernel, monkeypatch, cell, shape):
    """The same hand-derived layer with its loops in the kernel and in XLA."""
    params, carry, xs, lengths, w = _problem(cell, *shape)
    got = _value_and_grads(cell, "fused", params, carry, xs, lengths, w)
    hlo = jax.jit(lambda p: _value_and_grads(cell, "fused", p, carry, xs, lengths, w)).lower(params)
    assert "rnn_jax_" in hlo.as_text()
    monkeypatch.setattr(fused_kernel, "use_kernel", lambda xs: False)
    want = _value_and_grads(cell, "fused", params, carry, xs, lengths, w)
    _assert_close(got, want, 2e-5)


def test_switched_off_by_environment(monkeypatch):
    monkeypatch.setenv("RNN_JAX_CPU_KERNEL", "0")
    assert not fused_kernel.available.__wrapped__()


def test_without_a_compiler_warns_and_keeps_xla_loops(monkeypatch, tmp_path):
    monkeypatch.delenv("RNN_JAX_CPU_KERNEL", raising=False)
    monkeypatch.setenv("RNN_JAX_CACHE", str(tmp_path))  # nothing cached there
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    with pytest.warns(UserWarning, match="XLA's loops"):
        assert not fused_kernel.available.__wrapped__()


@pytest.mark.slow
@pytest.mark.parametrize("cell", FUSED, ids=lambda c: c.name)
def test_kernel_under_vmap_equals_per_member_calls(kernel, cell):
    """A member axis (a vmapped sweep) runs as one kernel call per loop, with each member's
    own weights, and gives each member's values and gradients."""
    t, b, d, h = SHAPES[1]
    problems = [_problem(cell, t, b, d, h, seed) for seed in range(3)]

    def grads(params, carry, xs, lengths, w):
        return _value_and_grads(cell, "fused", params, carry, xs, lengths, w)

    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *problems)
    batched = jax.jit(jax.vmap(grads))
    hlo = batched.lower(*stacked).as_text()
    calls = [line for line in hlo.splitlines() if "custom_call" in line and "rnn_jax_" in line]
    assert len(calls) == 2, calls  # one forward, one backward
    assert f"tensor<3x{t}x{b}x" in hlo  # the member axis reaches the kernel
    got = batched(*stacked)
    for m, problem in enumerate(problems):
        want = jax.jit(grads)(*problem)
        for a, b_ in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
            np.testing.assert_allclose(b_[m], a, rtol=2e-5, atol=2e-5)
