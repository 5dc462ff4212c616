"""Padded batches on the LSTM's fast path against the generic scan, in one process.

    python -m scripts.bench_padded [--repeats 7] [--steps 20]

For shapes like those of the experiments that pad (reber, translate's encoder,
video), it times a training step (forward, backward, Adam on a readout of each
sequence's last valid output) of a bidirectional LSTM layer over a batch whose
lengths are drawn from [T/2, T], three ways: the generic ``lax.scan`` with
length masks (what padded batches ran through before the fast path took
lengths), the fused path with the same lengths, and the fused path on the
unpadded batch (what the lengths cost). Medians of interleaved repeats, in
examples per second; the ratios are fused / scan and padded / unpadded.
"""

import argparse
import platform
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax.nn import dense
from rnn_jax.recurrent import stack
from rnn_jax.recurrent.lstm import LSTM
from scripts.bench_cells import _interleaved

# (name, batch, time steps, input features, hidden units)
SHAPES = [
    ("reber-like", 64, 48, 7, 32),
    ("translate-like", 128, 32, 32, 128),
    ("video-like", 32, 9, 128, 128),
]


def _train_step(path: str, lengths, batch: int, d: int, h: int):
    """A jitted ``(state, xs) -> state`` step of a bidirectional LSTM on ``path``."""
    key = jax.random.key(0)
    params = {
        "rnn": stack.bidirectional_init(key, LSTM, d, h),
        "head": dense.linear_init(jax.random.key(1), 2 * h, 1),
    }
    tx = optax.adam(1e-3)

    def loss(params, xs):
        _, ys = stack.bidirectional_apply(LSTM, params["rnn"], xs, seq_lengths=lengths, path=path)
        last = stack.last_valid(ys, lengths)
        return jnp.mean(dense.linear_apply(params["head"], last) ** 2)

    @jax.jit
    def step(state, xs):
        params, opt = state
        grads = jax.grad(loss)(params, xs)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt

    return step, (params, tx.init(params))


def _cpu_name() -> str:
    """The CPU's model name (as ``lscpu`` shows it), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats; the median is kept")
    parser.add_argument("--steps", type=int, default=20, help="calls per timed repeat")
    args = parser.parse_args()
    print(f"backend={jax.default_backend()} devices={jax.devices()} cpu={_cpu_name()}")
    print(f"{'shape':<16}{'B,T,D,H':<16}{'scan ex/s':>11}{'fused ex/s':>12}{'unpadded':>10}"
          f"{'fused/scan':>12}{'pad cost':>10}")  # fmt: skip
    for name, b, t, d, h in SHAPES:
        rng = np.random.default_rng(0)
        xs = jnp.asarray(rng.normal(size=(b, t, d)), jnp.float32)
        lengths = jnp.asarray(rng.integers(t // 2, t + 1, size=b), jnp.int32)
        runs = {}
        for label, path, lens in [
            ("scan", "scan", lengths),
            ("fused", "fused", lengths),
            ("unpadded", "fused", None),
        ]:
            step, state = _train_step(path, lens, b, d, h)
            state = step(state, xs)  # compile
            runs[label] = (step, state)
        fns = {label: (lambda s=step, st=state: s(st, xs)) for label, (step, state) in runs.items()}
        sec = _interleaved(fns, args.steps, args.repeats)
        rate = {k: b / v for k, v in sec.items()}
        print(
            f"{name:<16}{f'{b},{t},{d},{h}':<16}{rate['scan']:>11.0f}{rate['fused']:>12.0f}"
            f"{rate['unpadded']:>10.0f}{rate['fused'] / rate['scan']:>12.2f}"
            f"{rate['fused'] / rate['unpadded']:>10.2f}"
        )


if __name__ == "__main__":
    main()
