"""Run the bench for shape idx with current XLA_FLAGS, print ours and flax train ms."""
import sys, os
sys.argv = [sys.argv[0]] + sys.argv[1:]
from scripts import bench_cells as bc
import jax, jax.numpy as jnp, numpy as np
shape = int(os.environ.get("SHAPE", "0"))
b, t, d, sizes = bc.SHAPES[shape]
rng = np.random.default_rng(0)
xs = jnp.asarray(rng.normal(size=(b, t, d)), jnp.float32)
ys = jnp.asarray(rng.normal(size=(b, 1)), jnp.float32)
impls = {"ours": bc.bench_ours(xs, ys, sizes, None), "flax": bc.bench_flax(xs, ys, sizes)}
fns = {k: v[1] for k, v in impls.items()}
t0 = os.times()
res = bc._interleaved(fns, 20, 5)
t1 = os.times()
util = (t1.user - t0.user + t1.system - t0.system) / (t1.elapsed - t0.elapsed)
print(os.environ.get("XLA_FLAGS", ""), {k: round(b / v) for k, v in res.items()}, "ratio %.2f" % (res["flax"] / res["ours"]), "util %.2f" % util)
