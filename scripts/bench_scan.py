"""Tokens per second of one recurrent layer over long sequences, by path, in one process.

    python -m scripts.bench_scan [--lengths 28 256 784 4096 16384] [--batch 16] [--width 128]
                                 [--repeats 3]

For each sequence length T, one layer of ``--width`` units reads ``[batch, T, width]``
inputs: forward (inference) and forward + backward (the gradient of a loss on all outputs,
with respect to the parameters and the inputs), in tokens (batch x T) per second; compile
time apart, warm-up excluded, the median of ``--repeats`` turns taken in rotation. The
rows: the LRU and minGRU blocks on their ``sequential`` and ``parallel`` paths
(:mod:`rnn_jax.recurrent.linear`), our LSTM on its fastest path (the CPU kernel where it
applies) and on the generic ``lax.scan``, and Flax's ``nn.RNN(OptimizedLSTMCell)`` as the
reference; ratios are against Flax.

Then the recurrence alone, ``h_t = a_t * h_{t-1} + b_t`` on precomputed coefficients
(complex, as the LRU's), sequential and associative, against the memory-bandwidth bound:
the bytes it must move per token (read ``a_t`` and ``b_t``, write ``h_t``) at the copy
bandwidth measured in this process.
"""

import argparse
import platform
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from rnn_jax.recurrent import diagonal, linear
from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.recurrent.scan import unroll
from scripts.bench_cells import _interleaved


def _layer(cell, path: str | None, xs: jax.Array):
    """Compile seconds, and forward and forward+backward callables of one layer."""
    params = cell.init(jax.random.key(0), xs.shape[-1], xs.shape[-1])

    def forward(params, xs):
        return unroll(cell, params, xs, path=path)[1]

    def loss(params, xs):
        return jnp.mean(forward(params, xs) ** 2)

    fwd, grad = jax.jit(forward), jax.jit(jax.grad(loss, argnums=(0, 1)))
    start = time.perf_counter()
    jax.block_until_ready((fwd(params, xs), grad(params, xs)))
    return time.perf_counter() - start, lambda: fwd(params, xs), lambda: grad(params, xs)


def _flax_layer(xs: jax.Array):
    import flax.linen as nn

    layer = nn.RNN(nn.OptimizedLSTMCell(xs.shape[-1]))
    params = layer.init(jax.random.key(0), xs)
    fwd = jax.jit(layer.apply)
    grad = jax.jit(jax.grad(lambda p, x: jnp.mean(layer.apply(p, x) ** 2), argnums=(0, 1)))
    start = time.perf_counter()
    jax.block_until_ready((fwd(params, xs), grad(params, xs)))
    return time.perf_counter() - start, lambda: fwd(params, xs), lambda: grad(params, xs)


LAYERS: dict[str, Callable] = {
    "lru sequential": lambda xs: _layer(linear.LRU, "sequential", xs),
    "lru parallel": lambda xs: _layer(linear.LRU, "parallel", xs),
    "mingru sequential": lambda xs: _layer(linear.MINGRU, "sequential", xs),
    "mingru parallel": lambda xs: _layer(linear.MINGRU, "parallel", xs),
    "lstm (fastest path)": lambda xs: _layer(LSTM, None, xs),
    "lstm lax.scan": lambda xs: _layer(LSTM, "scan", xs),
    "flax OptimizedLSTMCell": _flax_layer,
}


def copy_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """Bytes per second of an out-of-place copy (read + write) of a large array."""
    x = jnp.ones(megabytes * 2**20 // 4, jnp.float32)
    copy = jax.jit(lambda x: x + 1.0)
    jax.block_until_ready(copy(x))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(copy(x))
        best = min(best, time.perf_counter() - start)
    return 2 * x.nbytes / best


def recurrence_alone(batch: int, length: int, width: int, repeats: int) -> dict[str, float]:
    """Seconds of ``h_t = a_t h_{t-1} + b_t`` (complex64) over ``[length, batch, width]``."""
    key = jax.random.key(0)
    a = jnp.exp(jax.lax.complex(-jax.random.uniform(key, (length, batch, width)) * 0.1, 0.3))
    b = jax.lax.complex(*jax.random.normal(key, (2, length, batch, width)))

    h0 = jnp.zeros_like(b[0])
    fns = {
        "sequential": jax.jit(lambda a, b: diagonal.linear_recurrence(a, b, h0)),
        "parallel": jax.jit(lambda a, b: diagonal.associative_recurrence(a, b, h0)),
    }
    for fn in fns.values():
        jax.block_until_ready(fn(a, b))
    return _interleaved({n: (lambda f=f: f(a, b)) for n, f in fns.items()}, 1, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[28, 256, 784, 4096, 16384])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"{jax.default_backend()}; batch {args.batch}, width {args.width}")  # fmt: skip

    for length in args.lengths:
        xs = jax.random.normal(jax.random.key(1), (args.batch, length, args.width))
        tokens = args.batch * length
        steps = max(1, int(4096 / length))  # about the same work per measurement
        built = {name: make(xs) for name, make in LAYERS.items()}
        calls = {}
        for name, (_, fwd, grad) in built.items():
            calls[f"{name}|fwd"], calls[f"{name}|grad"] = fwd, grad
        seconds = _interleaved(calls, steps, args.repeats)
        ref = {kind: seconds[f"flax OptimizedLSTMCell|{kind}"] for kind in ("fwd", "grad")}
        print(f"\nT = {length}: tokens/s (x Flax's), compile s")
        print(f"  {'layer':<26} {'forward':>22} {'forward+backward':>22} {'compile':>8}")
        for name, (compile_s, _, _) in built.items():
            rates = {k: tokens / seconds[f"{name}|{k}"] for k in ("fwd", "grad")}
            cols = [f"{rates[k]:>12,.0f} ({ref[k] * rates[k] / tokens:5.2f}x)" for k in rates]
            print(f"  {name:<26} {cols[0]:>22} {cols[1]:>22} {compile_s:>8.2f}")

    bandwidth = copy_bandwidth()
    length = max(args.lengths)
    alone = recurrence_alone(args.batch, length, args.width, args.repeats)
    per_token = args.width * 3 * 8  # read a_t and b_t, write h_t; complex64 = 8 bytes each
    bound = bandwidth / per_token
    print(f"\nthe recurrence alone (complex64, T = {length}): copy bandwidth "
          f"{bandwidth / 1e9:.1f} GB/s, {per_token} bytes per token: "
          f"bound {bound:,.0f} tokens/s")  # fmt: skip
    for name, s in alone.items():
        rate = args.batch * length / s
        print(f"  {name:<12} {rate:>14,.0f} tokens/s, {bound / rate:5.2f}x the bound's time")


if __name__ == "__main__":
    main()
