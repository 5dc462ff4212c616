"""Throughput of our recurrent stacks against Flax's ``nn.RNN`` and PyTorch, every cell.

    python -m scripts.bench_cells [--cells lstm,gru_reset_after,gru,rnn] [--repeats 7]
                                  [--steps 20] [--shapes 0,1,2] [--hoist auto] [--devices 2]
                                  [--no-nnx] [--paths fused,scan]

For each cell and shape it measures a training step (forward, backward and an Adam
update on a linear readout of the last output, squared loss) and inference
(forward only), in examples per second: compile time apart, warm-up excluded,
the median of repeats of ``--steps`` calls each. Every framework runs in this
process on the same data; the ratio columns are ours / reference. The references:
``lstm`` against ``nn.OptimizedLSTMCell`` and ``torch.nn.LSTM``, both GRUs against
``nn.GRUCell`` and ``torch.nn.GRU`` (reset-after, like ``gru_reset_after``; the
reset-before ``gru`` has no counterpart there and does the same matmuls), ``rnn``
against ``nn.SimpleCell`` and ``torch.nn.RNN`` (tanh). On a GPU, PyTorch runs there too
(cuDNN).

Flax NNX users are served by rows of their own: ``nnx``, our stack as
:class:`rnn_jax.nnx.Stack`, against ``flax-nnx``, ``nnx.RNN`` over Flax's NNX cell, each
trained as NNX users do (``nnx.jit`` of a step that updates an ``nnx.Optimizer``); the
``flax-nnx`` row's ratios are ``nnx`` / ``flax-nnx``. With ``--paths``, rows ``ours:PATH``
time our stack forced onto each named path (e.g. ``fused``, XLA's loops on a GPU, or
``scan``), their ratios ``ours`` (the default path) / that path.

Each row also gives its GFLOP/s (the matmuls' floating-point operations per second:
projection, recurrence and, in training, the gradients' three times as many) and
the share of the matmul peak: the float32 rate of the fastest installed library
(PyTorch, numpy or XLA, picked on a 2048^3 product first) on that product, timed
again in turns with each shape's runs (its median), since this machine's speed
drifts with its neighbours' load.
With ``--devices N`` a row ``ours-dpN`` adds our train step split over N devices
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
from rnn_jax.recurrent.cells import Cell, get_cell
from rnn_jax.training import parallel, train

# (batch, time steps, input features, layer sizes): the classifier, the row
# generator and the signal forecaster.
SHAPES = [(128, 28, 28, (128,)), (128, 14, 28, (128, 256)), (32, 25, 100, (100, 100))]
GATES = {"lstm": 4, "gru": 3, "gru_reset_after": 3, "rnn": 1}  # the cells compared
PEAK_SIZE = 2048  # the square product whose best rate is the peak


def matmul_flops(cell: str, batch: int, steps: int, d: int, sizes: tuple[int, ...]) -> tuple:
    """``(inference, training)`` floating-point operations of a stack's matmuls per batch.

    Per layer of input ``D``, width ``H`` and ``G`` gates, the projection ``P = 2 B T D G H``
    and the recurrence ``R = 2 B T H G H``; inference is ``P + R``, training adds the
    backward pass's ``R`` (``dh W_h^T``), ``R`` (``dW_h``), ``P`` (``dW_x``) and, above the
    first layer, ``P`` (the input's gradient).
    """
    gates, infer, train_ = GATES[cell], 0.0, 0.0
    for layer, (d_in, hid) in enumerate(zip((d, *sizes[:-1]), sizes)):
        proj, recur = (
            2.0 * batch * steps * d_in * gates * hid,
            2.0 * batch * steps * hid * gates * hid,
        )
        infer += proj + recur
        train_ += 3 * recur + (2 if layer == 0 else 3) * proj
    return infer, train_


def matmul_products() -> dict[str, Callable[[], object]]:
    """A float32 ``PEAK_SIZE``^3 product in each installed library (numpy, XLA, PyTorch)."""
    n = PEAK_SIZE
    a, b = (np.random.default_rng(i).normal(size=(n, n)).astype(np.float32) for i in (0, 1))
    products = {"numpy": lambda: a @ b}
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    dot = jax.jit(jnp.dot)
    products["xla"] = lambda: dot(ja, jb).block_until_ready()
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        products["torch"] = lambda: ta @ tb
    except ImportError:
        pass
    return products


def matmul_rates(products: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """GFLOP/s of each product: the best of ``repeats`` timed calls after a warm-up."""
    rates = {}
    for name, fn in products.items():
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        rates[name] = 2.0 * PEAK_SIZE**3 / min(times) / 1e9
    return rates


def _wait(out) -> None:
    """Wait for a result: a JAX pytree, or a PyTorch tensor on a GPU."""
    if getattr(out, "is_cuda", False):
        import torch

        torch.cuda.synchronize()
    else:
        jax.block_until_ready(out)


def _seconds_per_call(fn: Callable[[], object], steps: int) -> float:
    """Mean seconds per call over ``steps`` back-to-back calls, waiting for the last result."""
    start = time.perf_counter()
    for _ in range(steps):
        out = fn()
    _wait(out)
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


def _ours(cell: Cell, d, sizes, hoist, path=None):
    """``(init, apply)`` of our stack of ``cell`` with a linear readout of the last output."""

    def init(key):
        k1, k2 = jax.random.split(key)
        return {
            "rnn": stack.stack_init(k1, cell, d, sizes),
            "head": dense.linear_init(k2, sizes[-1], 1),
        }

    def apply(params, xs):
        _, hs = stack.stack_apply(cell, params["rnn"], xs, hoist=hoist, path=path)
        return dense.linear_apply(params["head"], hs[:, -1])

    return init, apply


def bench_ours(cell, xs, ys, sizes, hoist, path=None):
    return _jax_bench(*_ours(get_cell(cell), xs.shape[-1], sizes, hoist, path), xs, ys)


def _nnx_bench(model, xs, ys):
    """Compile seconds, a train-step and an inference callable of an NNX model, stepped as
    NNX users do: ``nnx.jit`` of a step that updates an ``nnx.Optimizer`` in place."""
    from flax import nnx

    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, xs, ys):
        def loss_fn(model):
            return jnp.mean((model(xs) - ys) ** 2)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    infer = nnx.jit(lambda model, xs: model(xs))
    start = time.perf_counter()
    jax.block_until_ready(train_step(model, optimizer, xs, ys))
    jax.block_until_ready(infer(model, xs))
    compile_s = time.perf_counter() - start
    return compile_s, lambda: train_step(model, optimizer, xs, ys), lambda: infer(model, xs)


def bench_nnx(cell, xs, ys, sizes):
    """Our stack as ``rnn_jax.nnx.Stack`` with an ``nnx.Linear`` readout of the last output."""
    from flax import nnx

    from rnn_jax.nnx import Stack

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.rnn = Stack(cell, xs.shape[-1], sizes, rngs=rngs)
            self.head = nnx.Linear(sizes[-1], 1, rngs=rngs)

        def __call__(self, xs):
            return self.head(self.rnn(xs)[:, -1])

    return _nnx_bench(Model(nnx.Rngs(0)), xs, ys)


def bench_flax_nnx(cell, xs, ys, sizes):
    """Flax's own NNX cell under ``nnx.RNN``, layer by layer, with the same readout."""
    from flax import nnx

    flax_cell = _flax_cell(nnx, cell)

    class Model(nnx.Module):
        def __init__(self, rngs):
            dims = [xs.shape[-1], *sizes]
            self.rnns = nnx.List(
                nnx.RNN(flax_cell(a, b, rngs=rngs)) for a, b in zip(dims[:-1], dims[1:])
            )
            self.head = nnx.Linear(sizes[-1], 1, rngs=rngs)

        def __call__(self, xs):
            for rnn in self.rnns:
                xs = rnn(xs)
            return self.head(xs[:, -1])

    return _nnx_bench(Model(nnx.Rngs(0)), xs, ys)


def bench_ours_data_parallel(cell, xs, ys, sizes, hoist, devices):
    """Compile seconds and a train-step callable of ``training.train``'s data-parallel step."""
    init, apply = _ours(get_cell(cell), xs.shape[-1], sizes, hoist)
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


def _flax_cell(api, cell: str):
    """Flax's counterpart of ``cell`` in ``api`` (``flax.linen`` or ``flax.nnx``, which name
    their cells alike); both GRUs compare with its reset-after ``GRUCell``."""
    return getattr(api, {"lstm": "OptimizedLSTMCell", "rnn": "SimpleCell"}.get(cell, "GRUCell"))


def bench_flax(cell, xs, ys, sizes):
    import flax.linen as nn

    flax_cell = _flax_cell(nn, cell)

    class Model(nn.Module):
        @nn.compact
        def __call__(self, xs):
            for h in sizes:
                xs = nn.RNN(flax_cell(h))(xs)
            return nn.Dense(1)(xs[:, -1])

    model = Model()
    return _jax_bench(lambda k: model.init(k, xs), model.apply, xs, ys)


def bench_torch(cell, xs, ys, sizes):
    import torch

    layer = {"lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}.get(cell, torch.nn.GRU)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            dims = [xs.shape[-1], *sizes]
            self.rnns = torch.nn.ModuleList(
                layer(a, b, batch_first=True) for a, b in zip(dims[:-1], dims[1:])
            )
            self.head = torch.nn.Linear(sizes[-1], 1)

        def forward(self, x):
            for rnn in self.rnns:
                x, _ = rnn(x)
            return self.head(x[:, -1])

    device = "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"
    model = Model().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = (torch.tensor(np.asarray(a), device=device) for a in (xs, ys))

    def step():
        opt.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()
        return loss

    def infer():
        with torch.no_grad():
            return model(x)

    return 0.0, step, infer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cells", default=",".join(GATES), help=f"cells to compare, of {', '.join(GATES)}"
    )
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
    parser.add_argument(
        "--no-nnx", action="store_true", help="skip the Flax NNX rows (rnn_jax.nnx, flax-nnx)"
    )
    parser.add_argument(
        "--paths",
        default="",
        help="also time our stack forced onto these paths, e.g. fused,scan (rows ours:PATH)",
    )
    args = parser.parse_args()
    cells = args.cells.split(",")
    unknown = [c for c in cells if c not in GATES]
    if unknown:
        parser.error(f"unknown cells {unknown} in --cells; choose from {', '.join(GATES)}")
    shapes = args.shapes.split(",")
    if not all(i.isdigit() and int(i) < len(SHAPES) for i in shapes):
        parser.error(f"--shapes takes indices 0-{len(SHAPES) - 1} joined by commas")
    parallel.split_cpu(args.devices)
    hoist = {"auto": None, "on": True, "off": False}[args.hoist]
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("torch not installed: PyTorch columns skipped (pip install torch==2.13.0)")

    print(f"backend={jax.default_backend()} devices={jax.devices()} hoist={args.hoist}")
    products = matmul_products()
    rates = matmul_rates(products, args.repeats)
    fastest = max(rates, key=rates.get)
    print(
        f"float32 {PEAK_SIZE}^3 product, GFLOP/s: "
        + ", ".join(f"{name} {rate:.1f}" for name, rate in rates.items())
        + f"; the peak is {fastest}'s, timed again in turns with every shape's runs"
    )
    header = (
        f"{'cell':<16}{'shape (B,T,D,H)':<22}{'impl':<12}{'compile s':>10}{'train ex/s':>11}"
        f"{'GFLOP/s':>9}{'peak':>6}{'infer ex/s':>11}{'GFLOP/s':>9}{'peak':>6}"
        f"{'train x':>9}{'infer x':>9}" + (f"{'dp train x':>11}" if args.devices > 1 else "")
    )
    print(header)
    rng = np.random.default_rng(0)
    for cell in cells:
        for i in map(int, shapes):
            b, t, d, sizes = SHAPES[i]
            xs = jnp.asarray(rng.normal(size=(b, t, d)), jnp.float32)
            ys = jnp.asarray(rng.normal(size=(b, 1)), jnp.float32)
            impls = {
                "ours": bench_ours(cell, xs, ys, sizes, hoist),
                "flax": bench_flax(cell, xs, ys, sizes),
            }
            versus = {"flax": "ours"}  # each reference row's ratios: versus[row] / row
            if have_torch:
                impls["torch"], versus["torch"] = bench_torch(cell, xs, ys, sizes), "ours"
            for path in filter(None, args.paths.split(",")):
                impls[f"ours:{path}"] = bench_ours(cell, xs, ys, sizes, hoist, path)
                versus[f"ours:{path}"] = "ours"
            if not args.no_nnx:
                impls["nnx"] = bench_nnx(cell, xs, ys, sizes)
                impls["flax-nnx"], versus["flax-nnx"] = bench_flax_nnx(cell, xs, ys, sizes), "nnx"
            fns = {}
            for impl, (_, train_fn, infer_fn) in impls.items():
                fns[(impl, "train")], fns[(impl, "infer")] = train_fn, infer_fn
            dp = f"ours-dp{args.devices}"
            if args.devices > 1:
                dp_compile_s, fns[(dp, "train")] = bench_ours_data_parallel(
                    cell, xs, ys, sizes, hoist, args.devices
                )
            fns[("peak", fastest)] = products[fastest]
            seconds = _interleaved(fns, args.steps, args.repeats)
            peak = 2.0 * PEAK_SIZE**3 / seconds.pop(("peak", fastest)) / 1e9
            eps = {k: b / s for k, s in seconds.items()}
            flops = dict(zip(("infer", "train"), matmul_flops(cell, b, t, d, sizes)))

            def rate(impl, kind):
                gflops = eps[(impl, kind)] / b * flops[kind] / 1e9
                return f"{eps[(impl, kind)]:>11.0f}{gflops:>9.1f}{gflops / peak:>6.0%}"

            name = f"({b},{t},{d},{'+'.join(map(str, sizes))})"
            for impl, (compile_s, _, _) in impls.items():
                ratio = ""
                if impl in versus:
                    ours = versus[impl]
                    ratio = f"{eps[(ours, 'train')] / eps[(impl, 'train')]:>9.2f}"
                    ratio += f"{eps[(ours, 'infer')] / eps[(impl, 'infer')]:>9.2f}"
                    if args.devices > 1 and ours == "ours":
                        ratio += f"{eps[(dp, 'train')] / eps[(impl, 'train')]:>11.2f}"
                print(
                    f"{cell:<16}{name:<22}{impl:<12}{compile_s:>10.2f}{rate(impl, 'train')}"
                    f"{rate(impl, 'infer')}{ratio}",
                    flush=True,
                )
            if args.devices > 1:
                print(
                    f"{cell:<16}{name:<22}{dp:<12}{dp_compile_s:>10.2f}{eps[(dp, 'train')]:>11.0f}"
                )
            print(f"{cell:<16}{name:<22}{'peak':<12}{peak:>21.1f} GFLOP/s ({fastest}, these turns)")


if __name__ == "__main__":
    main()
