"""Where an LSTM layer's time goes: each piece of its fused training step and inference,
timed alone in one process (CPU kernel, float32), with its GFLOP/s.

    python -m scripts.bench_kernel [--shape 128,28,28,128] [--repeats 7]

The pieces: the kernel's forward loop (the input projection joined to each step's
recurrent matmul; keeps the gates and cell states), its inference loop (keeps nothing),
its backward loop (``dz``, one matmul by ``W_h^T`` per step), the weight gradients (one
matmul, ``[x, h_prev]^T dz``), the input's gradient (``dz W_x^T``), and for comparison
XLA's input projection of all steps alone (``xs @ W_x``). Best of ``--repeats`` turns of
50 calls each, compile apart.
"""

import argparse
import time

import jax
import jax.numpy as jnp

from rnn_jax.recurrent.fused import kernel
from rnn_jax.recurrent.fused.layer import per_step, previous, weight_grads


def _ms(fn, *args, repeats: int, calls: int = 50) -> float:
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="128,28,28,128", help="B,T,D,H of one layer")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    try:
        b, t, d, h = (int(v) for v in args.shape.split(","))
    except ValueError:
        parser.error(f"--shape takes four integers B,T,D,H, got {args.shape!r}")
    if not kernel.available():
        parser.error("the CPU kernel is not built here (see the warning); nothing to time")
    keys = jax.random.split(jax.random.key(0), 5)
    xs = jax.random.normal(keys[0], (t, b, d))
    params = {
        "wx": 0.1 * jax.random.normal(keys[1], (d, 4 * h)),
        "wh": 0.1 * jax.random.normal(keys[2], (h, 4 * h)),
        "b": jnp.zeros((4 * h,)),
    }
    h0 = jnp.zeros((b, h))
    lengths = jnp.full((b,), t, jnp.int32)
    seq, gates_shape = per_step(xs, h), per_step(xs, 4 * h)
    operands = (params["wx"], params["wh"], params["b"], h0, h0, lengths)

    forward = jax.jit(
        lambda xs: kernel.call("rnn_jax_lstm_forward", (gates_shape, seq, seq), xs, *operands)
    )
    infer = jax.jit(lambda xs: kernel.call("rnn_jax_lstm_infer", (seq, h0), xs, *operands))
    gates, hs, cs = forward(xs)
    dys = jax.random.normal(keys[3], (t, b, h))
    backward = jax.jit(
        lambda gates, cs, dys: kernel.call(
            "rnn_jax_lstm_backward",
            (gates_shape, h0, h0),
            gates,
            cs,
            h0,
            params["wh"],
            dys,
            h0,
            h0,
            lengths,
        )
    )
    dz = backward(gates, cs, dys)[0]
    grads = jax.jit(lambda xs, hs, dz: weight_grads(params, xs, previous(h0, hs), dz))
    input_grad = jax.jit(lambda dz: dz @ params["wx"].T)
    projection = jax.jit(lambda xs: xs @ params["wx"])

    proj, recur = 2.0 * t * b * d * 4 * h, 2.0 * t * b * h * 4 * h
    pieces = {
        "forward loop (training)": (_ms(forward, xs, repeats=args.repeats), proj + recur),
        "inference loop": (_ms(infer, xs, repeats=args.repeats), proj + recur),
        "backward loop": (_ms(backward, gates, cs, dys, repeats=args.repeats), recur),
        "weight gradients": (_ms(grads, xs, hs, dz, repeats=args.repeats), proj + recur),
        "input gradient": (_ms(input_grad, dz, repeats=args.repeats), proj),
        "XLA projection alone": (_ms(projection, xs, repeats=args.repeats), proj),
    }
    print(f"LSTM layer B,T,D,H = {b},{t},{d},{h}; backend {jax.default_backend()}")
    print(f"{'piece':<26}{'ms':>9}{'GFLOP/s':>10}")
    for name, (ms, flops) in pieces.items():
        print(f"{name:<26}{ms:>9.3f}{flops / ms / 1e6:>10.1f}")
    train = sum(
        pieces[k][0] for k in ("forward loop (training)", "backward loop", "weight gradients")
    )
    print(f"training step's layer (first layer: no input gradient): {train:.3f} ms")


if __name__ == "__main__":
    main()
