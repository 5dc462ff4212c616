"""Several runs of one program trained together: states stacked on a member axis, one
vmapped step for all of them.

The members of a group are tasks that differ only in their seed (their
initialisation, data order, dropout masks and, where the experiment draws it
from the seed, their validation split) and the optimizer's peak learning rate,
warm-up length and clip norm, which each member's optimizer state holds as
arrays (:mod:`rnn_jax.training.optim`). Each
member's parameters and optimizer state sit at index ``m`` of every array of the
stacked state, the step is ``jax.vmap``-ed over that axis and jitted once, and
every member writes the run directory its solo run would
(:func:`rnn_jax.training.experiment.fit`): metrics, checkpoints, then its own report. A
member whose loss turns non-finite is frozen from that step on and marked
failed (``failed.json``) while the others train on.
"""

import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from rnn_jax.errors import ConfigError
from rnn_jax.sweeps import grid as sweep
from rnn_jax.training import batching, experiment, parallel, rundir, train
from rnn_jax.training.ckpt import Checkpoints
from rnn_jax.training.task import Task

MEMBER_AXIS = "member"  # the mesh axis a group's members are split over


def stack(trees: list) -> object:
    """Trees of equal structure stacked on a new leading (member) axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def unstack(tree: object, m: int) -> object:
    """Member ``m`` of a stacked tree."""
    return jax.tree.map(lambda x: x[m], tree)


def check_group(tasks: list[Task]) -> None:
    """Raise ConfigError unless the tasks differ in :data:`rnn_jax.sweeps.grid.SHARED` settings
    alone (their seed and the optimizer's injected hyper-parameters)."""

    def flat(settings: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in settings.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
        return out

    keys = {json.dumps(sweep.program_key(flat(rundir.config_to_dict(t.config)))) for t in tasks}
    if len(keys) != 1:
        raise ConfigError(
            "members of a group must differ only in their seed, learning rate, warm-up steps "
            "and clip norm (on in all, or off in all)"
        )
    if tasks[0].config.train.devices != 1 or tasks[0].steps_per_call != 1:
        raise ConfigError("grouped members run on one device, one step per call")


def make_group_step(task: Task, mesh: Mesh | None = None):
    """``(states, batches, alive) -> (states, metrics, alive)``, vmapped over members and
    jitted; a member that is not alive, or whose loss or gradient is not finite, keeps its
    state. With a ``mesh`` (:func:`member_mesh`) each device runs its share of the members."""
    step = train.make_step_fn(task.loss_fn, task.config.train.optimizer(task.steps))

    def member(state, batch, alive):
        new, metrics = step(state, batch)
        alive = alive & jnp.isfinite(metrics["loss"]) & jnp.isfinite(metrics["grad_norm"])
        kept = jax.tree.map(lambda n, o: jnp.where(alive, n, o), new, state)
        return kept, metrics, alive

    group = jax.vmap(member)
    if mesh is None:
        return jax.jit(group, donate_argnums=0)
    spec = P(MEMBER_AXIS)
    group = jax.shard_map(group, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)
    return parallel.paced(jax.jit(group, donate_argnums=0))


def evaluate(tasks: list[Task], params: object) -> list[dict[str, float]]:
    """Every member's validation metrics for its slice of the stacked ``params``: one
    vmapped call where the tasks score by batch sums (:class:`rnn_jax.training.train.Validation`),
    else each member's own ``evaluate``."""
    if all(isinstance(t.evaluate, train.Validation) for t in tasks):
        return train.evaluate_members([t.evaluate for t in tasks], params)
    return [t.evaluate(unstack(params, m)) for m, t in enumerate(tasks)]


def member_mesh(devices: int, members: int) -> Mesh:
    """A one-axis mesh of ``devices`` devices over which ``members`` are split evenly.

    Raises:
      ConfigError: if the members do not split evenly, or JAX sees fewer devices.
    """
    if members % devices:
        raise ConfigError(
            f"{members} members do not split evenly over {devices} devices; sweep a number "
            f"of seeds divisible by {devices}, or pass --devices 1"
        )
    mesh = parallel.data_parallel_mesh(devices)
    return Mesh(mesh.devices, (MEMBER_AXIS,))


def fit(
    tasks: list[Task], folders: list[Path], *, resume: bool, devices: int = 1
) -> list[dict | None]:
    """Train the group, its members split over ``devices`` devices; report every member that
    finished; returns their results (``None`` for a member that failed)."""
    check_group(tasks)
    task, m_count = tasks[0], len(tasks)
    mesh = member_mesh(devices, m_count) if devices > 1 else None
    ckpts = [
        Checkpoints(f / "ckpt", best_metric=t.best_metric, best_mode=t.mode)
        for t, f in zip(tasks, folders)
    ]
    # Each member's own optimizer state holds its own peak learning rate (optim.py).
    states = [
        train.init_state(
            t.init(jax.random.PRNGKey(t.config.seed)),
            t.config.train.optimizer(t.steps),
            t.config.seed,
        )
        for t in tasks
    ]
    start = 0
    if resume:
        steps = {c.latest_step() for c in ckpts}
        if len(steps) != 1:
            raise ConfigError(
                f"the members' latest checkpoints are at different steps {sorted(steps)}; "
                "resume them one by one (python -m experiments.NAME --workdir RUN --resume)"
            )
        start = steps.pop() or 0  # None: they stopped before their first checkpoint
        if start:
            states = [c.restore(start, s)[0] for c, s in zip(ckpts, states)]
    logs = [
        rundir.MetricsLog(f / "metrics.jsonl", resume_step=start if resume else None)
        for f in folders
    ]
    streams = [
        batching.batches(t.train_data, t.batch_size, seed=t.config.seed, start_step=start)
        for t in tasks
    ]
    group_step = make_group_step(task, mesh)
    state, alive = stack(states), jnp.ones(m_count, bool)
    if mesh is not None:
        state, alive = jax.device_put((state, alive), NamedSharding(mesh, P(MEMBER_AXIS)))
    failed: dict[int, str] = {}
    pending, last_log, t0 = [], start, time.perf_counter()
    bar = tqdm(
        total=task.steps, initial=start, desc=f"{task.experiment} x{m_count}", mininterval=1.0
    )
    step = start
    try:
        while step < task.steps:
            batch = batching.stack([next(s) for s in streams])
            state, metrics, alive = group_step(state, batch, alive)
            pending.append(metrics)
            step += 1
            bar.update()
            due_eval = step % task.eval_every == 0 or step == task.steps
            if step - last_log >= task.log_every or due_eval:
                host, ok = jax.device_get((pending, alive))
                rate = (step - last_log) / (time.perf_counter() - t0)
                for m in range(m_count):
                    if m in failed:
                        continue
                    avg = {k: float(np.mean([p[k][m] for p in host])) for k in host[0]}
                    if not ok[m] or not all(math.isfinite(v) for v in avg.values()):
                        failed[m] = (
                            f"non-finite loss or gradient between steps {last_log} and {step}; "
                            "lower the learning rate or enable gradient clipping"
                        )
                        continue
                    logs[m].write(step, "train", {**avg, "steps_per_s": rate})
                pending, last_log, t0 = [], step, time.perf_counter()
            if due_eval:
                scores = evaluate(tasks, state.params)
                host = jax.device_get(state)  # one transfer; members are sliced on the host
                for m in range(m_count):
                    if m in failed:
                        continue
                    logs[m].write(step, "val", scores[m])
                    flat = {f"val/{k}": v for k, v in scores[m].items()}
                    ckpts[m].save(
                        step, unstack(host, m), {"step": step, "metrics": flat}, metrics=flat
                    )
                t0 = time.perf_counter()
        bar.close()
        results = []
        for m, (t, f, c) in enumerate(zip(tasks, folders, ckpts)):
            if m in failed:
                (f / "failed.json").write_text(json.dumps({"error": failed[m]}) + "\n")
                results.append(None)
                continue
            best = c.best_step()
            best_state, meta = c.restore(best, unstack(state, m))
            results.append(
                experiment.report(t, f, best_state.params, best, meta.get("metrics", {}))
            )
        return results
    finally:
        for c in ckpts:
            c.close()
        for log in logs:
            log.close()
