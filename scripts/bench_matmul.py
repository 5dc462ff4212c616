"""float32 matmul GFLOP/s of XLA:CPU under each of its library-backed dot flags, against
numpy and PyTorch (oneDNN) on the same shapes.

    python -m scripts.bench_matmul [--repeats 5] [--flags NAME ...]

XLA reads ``XLA_FLAGS`` once per process, so each flag set runs in a child process of
its own (``--child``); the parent measures numpy and PyTorch and prints every rate with its
ratio to the best reference. The shapes: a large square product, the issue's 512 x 128 x 512,
and the LSTM classifier's (batch 128, 28 steps, 128 units) input projection, recurrent
product and weight gradient. Each child also checks its products against numpy (float64).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPES = {  # name: (m, k, n) of an [m, k] x [k, n] product
    "2048^3": (2048, 2048, 2048),
    "512x128x512": (512, 128, 512),
    "W1 input projection": (128 * 28, 28, 512),
    "W1 recurrent step": (128, 128, 512),
    "W1 weight gradient": (128, 128 * 28, 512),
}
FLAG_SETS = {
    "default": "",
    "onednn": "--xla_cpu_use_onednn=true",
    "onednn custom call": "--xla_cpu_experimental_onednn_custom_call=true",
    "classic runtime": "--xla_cpu_use_thunk_runtime=false",
    "xnnpack dot": "--xla_cpu_experimental_xnn_fusion_type=dot",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
}


def _rate(fn, flops: float, repeats: int) -> float:
    """GFLOP/s: the median over ``repeats`` timed turns of enough calls to last ~0.2 s."""
    fn()
    start = time.perf_counter()
    fn()
    calls = max(1, int(0.2 / max(time.perf_counter() - start, 1e-6)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return flops / statistics.median(times) / 1e9


def operands(m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(m, k)).astype(np.float32), rng.normal(size=(k, n)).astype(np.float32)


def child(repeats: int) -> dict:
    """This process's XLA rates, and the largest relative error against numpy in float64."""
    import jax
    import jax.numpy as jnp

    dot = jax.jit(jnp.dot)
    out = {}
    for name, (m, k, n) in SHAPES.items():
        a, b = operands(m, k, n)
        da, db = jnp.asarray(a), jnp.asarray(b)
        got = np.asarray(dot(da, db), np.float64)
        want = a.astype(np.float64) @ b.astype(np.float64)
        error = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
        rate = _rate(lambda: dot(da, db).block_until_ready(), 2.0 * m * k * n, repeats)
        out[name] = {"gflops": rate, "error": error}
    return out


def references(repeats: int) -> dict[str, dict[str, float]]:
    """numpy's and (where installed) PyTorch's GFLOP/s on the same shapes."""
    rates = {"numpy": {}}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        rates["torch"] = {}
    for name, (m, k, n) in SHAPES.items():
        a, b = operands(m, k, n)
        rates["numpy"][name] = _rate(lambda: a @ b, 2.0 * m * k * n, repeats)
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            rates["torch"][name] = _rate(lambda: ta @ tb, 2.0 * m * k * n, repeats)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--flags", nargs="+", default=list(FLAG_SETS), choices=list(FLAG_SETS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.child:
        print(json.dumps(child(args.repeats)))
        return
    rows = {}
    for label in args.flags:
        env = {**os.environ, "XLA_FLAGS": FLAG_SETS[label], "JAX_PLATFORMS": "cpu"}
        command = [
            sys.executable,
            "-m",
            "scripts.bench_matmul",
            "--child",
            "--repeats",
            str(args.repeats),
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode:
            print(f"{label}: failed ({done.stderr.strip().splitlines()[-1:]})")
            continue
        rows[label] = json.loads(done.stdout.strip().splitlines()[-1])
    refs = references(args.repeats)
    best = {name: max(r[name] for r in refs.values()) for name in SHAPES}
    print(f"{'GFLOP/s (x best reference)':<22}" + "".join(f"{name:>24}" for name in SHAPES))
    for impl, rates in refs.items():
        print(
            f"{impl:<22}"
            + "".join(f"{rates[n]:>15.1f} ({rates[n] / best[n]:.2f}x)" for n in SHAPES)
        )
    for label, results in rows.items():
        cells = "".join(
            f"{results[n]['gflops']:>15.1f} ({results[n]['gflops'] / best[n]:.2f}x)" for n in SHAPES
        )
        worst = max(r["error"] for r in results.values())
        print(f"{'xla ' + label:<22}{cells}   max rel. error {worst:.1e}")


if __name__ == "__main__":
    main()
