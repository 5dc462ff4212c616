"""quasi-DEER against the sequential scan, by sequence length: Newton iterations to converge
and forward (inference) speed of one layer, in one process.

    python -m scripts.bench_deer [--cells rnn gru lstm] [--lengths 28 256 784 4096]
                                 [--batch 16] [--width 64] [--repeats 3]

For each cell and length T, one layer of ``--width`` units at its initialisation reads
``[batch, T, width]`` standard-normal inputs; the rows give the iterations quasi-DEER
needed (:func:`rnn_jax.recurrent.deer.quasi_deer`, the cap is 100), the largest difference
from the scan's outputs, and milliseconds per forward pass of each (compile time apart, the
median of ``--repeats`` turns taken in rotation), with their ratio.
"""

import argparse
import platform
import time

import jax
import jax.numpy as jnp

from rnn_jax.errors import ConfigError
from rnn_jax.recurrent.cells import get_cell
from rnn_jax.recurrent.deer import quasi_deer
from rnn_jax.recurrent.scan import unroll
from scripts.bench_cells import _interleaved


def bench(name: str, length: int, batch: int, width: int, repeats: int) -> dict:
    """Iterations, agreement and seconds per forward pass of DEER and the scan."""
    cell = get_cell(name)
    params = cell.init(jax.random.key(0), width, width)
    xs = jax.random.normal(jax.random.key(1), (length, batch, width))
    carry = cell.init_carry(params, (batch,))
    deer = jax.jit(lambda p, x: quasi_deer(cell, p, x, carry))
    sequential = jax.jit(lambda p, x: unroll(cell, p, x, time_major=True, path="scan")[1])
    start = time.perf_counter()
    result, want = jax.block_until_ready((deer(params, xs), sequential(params, xs)))
    compile_s = time.perf_counter() - start
    steps = max(1, 20_000 // length)
    seconds = _interleaved(
        {"deer": lambda: deer(params, xs).ys, "scan": lambda: sequential(params, xs)},
        steps,
        repeats,
    )
    return {
        "iterations": int(result.iterations),
        "converged": bool(result.converged),
        "max_diff": float(jnp.max(jnp.abs(result.ys - want))),
        "compile_s": compile_s,
        **seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[28, 256, 784, 4096])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for value, flag in [
        (args.batch, "--batch"),
        (args.width, "--width"),
        (args.repeats, "--repeats"),
    ]:
        if value < 1:
            parser.error(f"{flag} must be >= 1, got {value}")
    if min(args.lengths) < 1:
        parser.error(f"--lengths must be >= 1, got {min(args.lengths)}")
    for name in args.cells:
        try:
            get_cell(name)  # an unknown cell: one error before any work
        except ConfigError as err:
            parser.error(str(err))
    print(f"{platform.processor() or platform.machine()}, {jax.devices()[0].device_kind}; "
          f"batch {args.batch}, width {args.width}, forward pass")  # fmt: skip
    print(f"{'cell':<6}{'T':>7}{'iters':>7}{'max diff':>11}{'deer ms':>10}{'scan ms':>10}"
          f"{'deer/scan':>11}")  # fmt: skip
    for name in args.cells:
        for length in args.lengths:
            r = bench(name, length, args.batch, args.width, args.repeats)
            iters = f"{r['iterations']}" + ("" if r["converged"] else " cap")
            ms = f"{r['deer'] * 1e3:>10.2f}{r['scan'] * 1e3:>10.2f}"
            ratio = r["deer"] / r["scan"]
            print(
                f"{name:<6}{length:>7}{iters:>7}{r['max_diff']:>11.1e}{ms}{ratio:>10.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
