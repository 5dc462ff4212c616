"""Throughput of our LSTM stacks against Flax's ``nn.RNN`` and PyTorch's ``nn.LSTM``.

    python -m scripts.bench_cells [--repeats 7] [--steps 20] [--shapes 0,1,2] [--hoist auto]
                                  [--devices 2]

For each shape it measures a training step (forward, backward and an Adam
update on a linear readout of the last output, squared loss) and inference
(forward only), in examples per second: compile time apart, warm-up excluded,
the median of repeats of ``--steps`` calls each. Every framework runs in this
process on the same data; the ratio columns are ours / reference. With
``--devices N`` a row ``ours-dpN`` adds our train step split over N devices
(``rnn_jax.training.train`` data parallelism; on a CPU, N devices of one core each),
with its own ratio column.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from rnn_jax.nn import dense
from rnn_jax.recurrent import stack
from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.training import parallel, train

# (batch, time steps, input features, LSTM sizes): the classifier, the row
# generator and the signal forecaster.
SHAPES = [(128, 28, 28, (128,)), (128, 14, 28, (128, 256)), (32, 25, 100, (100, 100))]


def _seconds_per_call(fn: Callable[[], object], steps: int) -> float:
    """Mean seconds per call over ``steps`` back-to-back calls, waiting for the last result."""
    start = time.perf_counter()
    for _ in range(steps):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps


def _interleaved(fns: dict[str, Callable[[], object]], steps: int, repeats: int) -> dict:
    """Median seconds per call of each function, the repeats taken in turn.

    Taking turns spreads this shared machine's load changes over every
    implementation alike, so the ratios hold even when absolute figures drift.
    """
    for fn in fns.values():  # warm-up: caches, allocator, thread pools
        _seconds_per_call(fn, 3)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_seconds_per_call(fn, steps))
    return {name: statistics.median(t) for name, t in times.items()}


def _jax_bench(init_fn, apply_fn, xs, ys):
    """Compile seconds, a train-step and an inference callable for ``(params, xs) -> out``."""
    params = init_fn(jax.random.key(0))
    tx = optax.adam(1e-3)

    def loss_fn(params, xs, ys):
        return jnp.mean((apply_fn(params, xs) - ys) ** 2)

    @jax.jit
    def train_step(state, xs, ys):
        params, opt_state = state
        grads = jax.grad(loss_fn)(params, xs, ys)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    infer = jax.jit(apply_fn)
    state = (params, tx.init(params))
    start = time.perf_counter()
    jax.block_until_ready(train_step(state, xs, ys))
    jax.block_until_ready(infer(params, xs))
    compile_s = time.perf_counter() - start
    holder = [state]

    def step():
        holder[0] = train_step(holder[0], xs, ys)
        return holder[0]

    return compile_s, step, lambda: infer(params, xs)


def _ours(d, sizes, hoist):
    """``(init, apply)`` of our LSTM stack with a linear readout of the last output."""

    def init(key):
        k1, k2 = jax.random.split(key)
        return {
            "rnn": stack.stack_init(k1, LSTM, d, sizes),
            "head": dense.linear_init(k2, sizes[-1], 1),
        }

    def apply(params, xs):
        _, hs = stack.stack_apply(LSTM, params["rnn"], xs, hoist=hoist)
        return dense.linear_apply(params["head"], hs[:, -1])

    return init, apply


def bench_ours(xs, ys, sizes, hoist):
    return _jax_bench(*_ours(xs.shape[-1], sizes, hoist), xs, ys)


def bench_ours_data_parallel(xs, ys, sizes, hoist, devices):
    """Compile seconds and a train-step callable of ``training.train``'s data-parallel step."""
    init, apply = _ours(xs.shape[-1], sizes, hoist)
    mesh = parallel.data_parallel_mesh(devices)

    def loss_fn(params, batch, key):
        return jnp.mean((apply(params, batch["x"]) - batch["y"]) ** 2), {}

    tx = optax.adam(1e-3)
    train_step = train.make_train_step(loss_fn, tx, mesh=mesh)
    batch = jax.device_put({"x": xs, "y": ys}, NamedSharding(mesh, P(parallel.BATCH_AXIS)))
    start = time.perf_counter()
    holder = [
        train_step(
            parallel.replicate(train.init_state(init(jax.random.key(0)), tx, 0), mesh), batch
        )
    ]
    jax.block_until_ready(holder[0])
    compile_s = time.perf_counter() - start

    def step():
        holder[0] = train_step(holder[0][0], batch)
        return holder[0]

    return compile_s, step


def bench_flax(xs, ys, sizes):
    import flax.linen as nn

    class Model(nn.Module):
        @nn.compact
        def __call__(self, xs):
            for h in sizes:
                xs = nn.RNN(nn.OptimizedLSTMCell(h))(xs)
            return nn.Dense(1)(xs[:, -1])

    model = Model()
    return _jax_bench(lambda k: model.init(k, xs), model.apply, xs, ys)


def bench_torch(xs, ys, sizes):
    import torch

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            dims = [xs.shape[-1], *sizes]
            self.rnns = torch.nn.ModuleList(
                torch.nn.LSTM(a, b, batch_first=True) for a, b in zip(dims[:-1], dims[1:])
            )
            self.head = torch.nn.Linear(sizes[-1], 1)

        def forward(self, x):
            for rnn in self.rnns:
                x, _ = rnn(x)
            return self.head(x[:, -1])

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.tensor(np.asarray(xs)), torch.tensor(np.asarray(ys))

    def step():
        opt.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            return model(x)

    return 0.0, step, infer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats; the median is kept")
    parser.add_argument("--steps", type=int, default=20, help="calls per timed repeat")
    parser.add_argument("--shapes", default="0,1,2", help="indices into SHAPES to run")
    parser.add_argument(
        "--hoist",
        choices=["auto", "on", "off"],
        default="auto",
        help="input projection before the scan (on) or in its body (off); auto = backend default",
    )
    parser.add_argument(
        "--devices",
        type=int,
        default=1,
        help="also time our train step split over N devices (N CPU devices on a CPU)",
    )
    args = parser.parse_args()
    parallel.split_cpu(args.devices)
    hoist = {"auto": None, "on": True, "off": False}[args.hoist]
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("torch not installed: PyTorch columns skipped (pip install torch==2.13.0)")

    print(f"backend={jax.default_backend()} devices={jax.devices()} hoist={args.hoist}")
    header = (
        f"{'shape (B,T,D,H)':<28}{'impl':<8}{'compile s':>10}{'train ex/s':>12}"
        f"{'infer ex/s':>12}{'train x':>9}{'infer x':>9}"
        + (f"{'dp train x':>11}" if args.devices > 1 else "")
    )
    print(header)
    rng = np.random.default_rng(0)
    for i in (int(s) for s in args.shapes.split(",")):
        b, t, d, sizes = SHAPES[i]
        xs = jnp.asarray(rng.normal(size=(b, t, d)), jnp.float32)
        ys = jnp.asarray(rng.normal(size=(b, 1)), jnp.float32)
        impls = {"ours": bench_ours(xs, ys, sizes, hoist), "flax": bench_flax(xs, ys, sizes)}
        if have_torch:
            impls["torch"] = bench_torch(xs, ys, sizes)
        fns = {}
        for impl, (_, train_fn, infer_fn) in impls.items():
            fns[(impl, "train")], fns[(impl, "infer")] = train_fn, infer_fn
        dp = f"ours-dp{args.devices}"
        if args.devices > 1:
            dp_compile_s, fns[(dp, "train")] = bench_ours_data_parallel(
                xs, ys, sizes, hoist, args.devices
            )
        eps = {k: b / s for k, s in _interleaved(fns, args.steps, args.repeats).items()}
        name = f"({b},{t},{d},{'+'.join(map(str, sizes))})"
        for impl, (compile_s, _, _) in impls.items():
            train_eps, infer_eps = eps[(impl, "train")], eps[(impl, "infer")]
            ratio = ""
            if impl != "ours":
                ratio = f"{eps[('ours', 'train')] / train_eps:>9.2f}"
                ratio += f"{eps[('ours', 'infer')] / infer_eps:>9.2f}"
                if args.devices > 1:
                    ratio += f"{eps[(dp, 'train')] / train_eps:>11.2f}"
            print(
                f"{name:<28}{impl:<8}{compile_s:>10.2f}{train_eps:>12.0f}{infer_eps:>12.0f}{ratio}"
            )
        if args.devices > 1:
            print(f"{name:<28}{dp:<8}{dp_compile_s:>10.2f}{eps[(dp, 'train')]:>12.0f}{'-':>12}")


if __name__ == "__main__":
    main()
