"""Training: a pytree train state, a jitted train step, batching, and the fit loop.

The step is a pure function ``(state, batch) -> (state, metrics)`` with no
Python-side state, and data feeding is separate from it, so vmapped sweeps can
wrap it unchanged; given a mesh, it splits each batch over several devices
(data parallelism: GPUs, or the cores of a CPU, see :func:`split_cpu`).
"""

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from rnn_jax.typing import Params

BATCH_AXIS = "batch"  # the mesh axis data parallelism splits batches over
Batch = Mapping[str, Any]
Metrics = dict[str, jax.Array]
LossFn = Callable[[Params, Batch, jax.Array], tuple[jax.Array, Metrics]]


class TrainState(NamedTuple):
    """Everything a run needs to continue: step, params, optimizer state and PRNG key."""

    step: jax.Array  # int32 scalar
    params: Params
    opt_state: optax.OptState
    key: jax.Array  # raw uint32[2] key (orbax stores it as a plain array)


def make_optimizer(
    lr: float,
    total_steps: int,
    *,
    schedule: str = "constant",
    warmup_steps: int = 0,
    clip_norm: float | None = None,
) -> optax.GradientTransformation:
    """Adam with an optional warm-up + cosine decay schedule and global-norm clipping.

    Args:
      lr: peak learning rate.
      total_steps: steps of the whole run (the cosine decays to 0 over them).
      schedule: ``"constant"`` or ``"cosine"``.
      warmup_steps: linear warm-up from 0 (cosine only).
      clip_norm: clip gradients to this global norm; ``None`` or 0 disables.
    """
    if schedule == "constant":
        rate = optax.constant_schedule(lr)
    elif schedule == "cosine":
        rate = optax.warmup_cosine_decay_schedule(
            0.0, lr, warmup_steps, max(total_steps, warmup_steps + 1), end_value=0.0
        )
    else:
        raise ValueError(f"unknown schedule {schedule!r}; choose 'constant' or 'cosine'")
    adam = optax.adam(rate)
    return optax.chain(optax.clip_by_global_norm(clip_norm), adam) if clip_norm else adam


@dataclass(frozen=True)
class StepConfig:
    """How every experiment takes a training step: the optimizer, and the devices a batch
    is split over (the shared part of each ``train`` section, flags ``--train.*``)."""

    lr: float = 1e-3
    """Peak learning rate of Adam."""
    schedule: str = "cosine"
    """Learning-rate schedule: constant, or cosine (linear warm-up, then decay to 0)."""
    warmup_steps: int = 100
    """Warm-up steps of the cosine schedule."""
    clip_norm: float = 1.0
    """Clip gradients to this global norm; 0 disables."""
    devices: int = 1
    """Split each batch over N devices (data parallel); on a CPU, N devices of one core
    each."""

    def optimizer(self, total_steps: int) -> optax.GradientTransformation:
        """The :func:`make_optimizer` these settings describe, for a run of ``total_steps``."""
        return make_optimizer(
            self.lr,
            total_steps,
            schedule=self.schedule,
            warmup_steps=self.warmup_steps,
            clip_norm=self.clip_norm,
        )


def init_state(params: Params, tx: optax.GradientTransformation, seed: int) -> TrainState:
    """A fresh state at step 0."""
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.PRNGKey(seed))


def split_cpu(devices: int) -> None:
    """Have JAX show the CPU as ``devices`` devices, one core each, if JAX has not started.

    The same as starting Python with ``JAX_NUM_CPU_DEVICES=N``; once JAX has run
    anything it is too late, and this does nothing (:func:`data_parallel_mesh`
    then says what to do). Other backends ignore it.
    """
    if devices > 1 and jax.config.jax_num_cpu_devices < devices:
        try:
            jax.config.update("jax_num_cpu_devices", devices)
        except RuntimeError:  # the backend is up already
            pass


def data_parallel_mesh(devices: int) -> Mesh:
    """A one-axis mesh over the first ``devices`` local devices, to split batches over.

    Raises:
      ValueError: if JAX sees fewer devices. A CPU is one device unless split
        (:func:`split_cpu`; each device then runs on its own core).
    """
    have = jax.local_devices()
    if not 1 <= devices <= len(have):
        hint = (
            f"start Python with JAX_NUM_CPU_DEVICES={devices} (or call "
            f"rnn_jax.train.split_cpu({devices}) before JAX runs anything) to split the CPU"
            if have[0].platform == "cpu" and devices > 1
            else f"choose between 1 and {len(have)}"
        )
        raise ValueError(
            f"data parallelism over {devices} devices, but JAX sees {len(have)} "
            f"({have[0].platform}); {hint}"
        )
    return Mesh(np.array(have[:devices]), (BATCH_AXIS,), axis_types=(AxisType.Auto,))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """``tree`` with a full copy on every device of ``mesh`` (a train state, params)."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


def _grads_fn(loss_fn: LossFn, mesh: Mesh | None):
    """``(params, batch, key) -> (loss, metrics, grads)``; with a mesh, averaged over its shards.

    Each device takes its slice of the batch and its own key (dropout masks
    differ between slices); the means of equal slices are the batch's means.
    """

    def grads_fn(params, batch, key):
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, key)
        return loss, aux, grads

    if mesh is None:
        return grads_fn
    n = mesh.shape[BATCH_AXIS]

    def on_shard(params, batch, key):
        key = jax.random.fold_in(key, jax.lax.axis_index(BATCH_AXIS))
        return jax.lax.pmean(grads_fn(params, batch, key), BATCH_AXIS)

    # check_vma=False: each device's gradient is of its own loss (no implicit psum of
    # the replicated params' cotangents), so the pmean above is the whole average.
    sharded = jax.shard_map(
        on_shard, mesh=mesh, in_specs=(P(), P(BATCH_AXIS), P()), out_specs=P(), check_vma=False
    )

    def checked(params, batch, key):
        sizes = {leaf.shape[0] for leaf in jax.tree.leaves(batch)}
        if any(size % n for size in sizes):
            raise ValueError(
                f"a batch of {sorted(sizes)} examples does not split evenly over {n} devices; "
                f"use a batch size divisible by {n}"
            )
        return sharded(params, batch, key)

    return checked


def _one_step(loss_fn: LossFn, tx: optax.GradientTransformation, mesh: Mesh | None):
    grads_fn = _grads_fn(loss_fn, mesh)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        key = jax.random.fold_in(state.key, state.step)  # a fresh key per step, never reused
        loss, aux, grads = grads_fn(state.params, batch, key)
        # optax mixes its int32 step count with Python floats (Adam's bias correction),
        # which strict dtype promotion (on in our tests) rejects; the mix is harmless.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, **aux, "grad_norm": optax.global_norm(grads)}
        return TrainState(state.step + 1, params, opt_state, state.key), metrics

    return step


def make_train_step(
    loss_fn: LossFn,
    tx: optax.GradientTransformation,
    *,
    steps_per_call: int = 1,
    mesh: Mesh | None = None,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """Jit a train step; the input state is donated (never reuse it after the call).

    Args:
      loss_fn: ``(params, batch, key) -> (loss, metrics)``, metrics being batch means.
      tx: the optimizer.
      steps_per_call: with ``K > 1`` the function takes batches stacked ``[K, B, ...]``
        and runs K steps in one ``lax.scan`` (a whole epoch can be one call),
        returning the metrics averaged over the K steps.
      mesh: split every batch over this :func:`data_parallel_mesh`; the state must
        then be :func:`replicate`-d on it.
    """
    step = _one_step(loss_fn, tx, mesh)
    if steps_per_call == 1:
        jitted = jax.jit(step, donate_argnums=0)
    else:

        def multi(state, batches):
            state, metrics = jax.lax.scan(step, state, batches)
            return state, jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)

        jitted = jax.jit(multi, donate_argnums=0)
    return jitted if mesh is None else _paced(jitted)


def _paced(step_fn):
    """``step_fn`` with at most two calls in flight: each call waits for the one before.

    The host still runs a step ahead of the devices. Without a bound, XLA:CPU
    deadlocks once a device's queue of 32 launched multi-device programs is full
    (tests/test_train.py reproduces it).
    """
    previous = []

    def paced(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        state, metrics = step_fn(state, batch)
        if previous:
            jax.block_until_ready(previous.pop())
        previous.append(metrics)
        return state, metrics

    return paced


def batches(
    arrays: Mapping[str, np.ndarray],
    batch_size: int,
    *,
    seed: int,
    start_step: int = 0,
    steps_per_call: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """Endless shuffled minibatches of a fixed shape, from step ``start_step`` on.

    Each epoch draws its own permutation from ``(seed, epoch)``, and the last
    partial batch is dropped, so the stream is a pure function of the step:
    a resumed run sees exactly the batches an uninterrupted one would. With
    ``steps_per_call = K`` it yields K consecutive batches stacked ``[K, B, ...]``.
    """
    n = len(next(iter(arrays.values())))
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch size {batch_size} is larger than the {n} training examples")
    step, perm_epoch, perm = start_step, None, None
    while True:
        group = []
        for _ in range(steps_per_call):
            epoch, i = divmod(step, per_epoch)
            if epoch != perm_epoch:
                perm_epoch, perm = epoch, np.random.default_rng([seed, epoch]).permutation(n)
            idx = np.sort(perm[i * batch_size : (i + 1) * batch_size])
            group.append({k: v[idx] for k, v in arrays.items()})
            step += 1
        if steps_per_call == 1:
            yield group[0]
        else:
            yield {k: np.stack([g[k] for g in group]) for k in group[0]}


def evaluate(
    sums_fn: Callable[[Params, Batch], Metrics],
    params: Params,
    arrays: Mapping[str, np.ndarray],
    batch_size: int,
) -> dict[str, float]:
    """Averages over a whole split from per-batch sums (exact for a partial last batch).

    ``sums_fn(params, batch)`` is jitted by the caller and returns sums plus a
    ``"count"``; the last batch is padded to ``batch_size`` and carries a 0/1
    ``"weight"`` so every call has one shape (one compile).
    """
    n = len(next(iter(arrays.values())))
    totals: dict[str, jax.Array] = {}
    for start in range(0, n, batch_size):
        chunk = {k: v[start : start + batch_size] for k, v in arrays.items()}
        m = len(next(iter(chunk.values())))
        weight = np.zeros(batch_size, np.float32)
        weight[:m] = 1.0
        if m < batch_size:
            chunk = {
                k: np.concatenate([v, np.repeat(v[:1], batch_size - m, 0)])
                for k, v in chunk.items()
            }
        sums = sums_fn(params, {**chunk, "weight": weight})
        totals = sums if not totals else jax.tree.map(jnp.add, totals, sums)
    totals = jax.device_get(totals)
    count = totals.pop("count")
    return {k: float(v) / float(count) for k, v in totals.items()}


class Evaluation(NamedTuple):
    """What :func:`fit` calls at evaluation points: returns ``{split: {name: value}}``."""

    fn: Callable[[TrainState], dict[str, dict[str, float]]]
    every: int


def fit(
    state: TrainState,
    train_step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]],
    data: Iterator[Batch],
    *,
    total_steps: int,
    steps_per_call: int = 1,
    log_every: int = 100,
    evaluation: Evaluation | None = None,
    on_log: Callable[[int, str, dict[str, float]], None] = lambda step, split, m: None,
    on_eval: Callable[[TrainState, dict[str, dict[str, float]]], None] = lambda s, r: None,
    desc: str = "train",
) -> TrainState:
    """Run ``train_step`` until ``total_steps``, logging and evaluating on the way.

    Metrics stay on the device between log points (no host sync per step); at
    each log point they are fetched once, averaged, checked for NaN/Inf and
    shown on the progress bar. Evaluations run every ``evaluation.every`` steps
    and at the end, and their results go to ``on_log`` and ``on_eval`` (where
    checkpoints are written).
    """
    start = int(state.step)
    if (total_steps - start) % steps_per_call:
        raise ValueError(
            f"{total_steps - start} remaining steps are not a multiple of steps_per_call="
            f"{steps_per_call}"
        )
    pending: list[Metrics] = []
    last_log, t0 = start, time.perf_counter()
    bar = tqdm(total=total_steps, initial=start, desc=desc, dynamic_ncols=True, mininterval=1.0)
    step = start
    while step < total_steps:
        state, metrics = train_step(state, next(data))
        pending.append(metrics)
        step += steps_per_call
        bar.update(steps_per_call)
        due_eval = evaluation is not None and (
            step // evaluation.every > (step - steps_per_call) // evaluation.every
            or step == total_steps
        )
        if step - last_log >= log_every or due_eval or step == total_steps:
            host = jax.device_get(pending)
            avg = {k: float(np.mean([m[k] for m in host])) for k in host[0]}
            bad = [k for k, v in avg.items() if not math.isfinite(v)]
            if bad:
                bar.close()
                raise FloatingPointError(
                    f"non-finite {bad} between steps {last_log} and {step}; lower the learning "
                    "rate or enable gradient clipping"
                )
            avg["steps_per_s"] = (step - last_log) / (time.perf_counter() - t0)
            on_log(step, "train", avg)
            bar.set_postfix({k: f"{v:.4g}" for k, v in avg.items() if k != "steps_per_s"})
            pending, last_log, t0 = [], step, time.perf_counter()
        if due_eval:
            results = evaluation.fn(state)
            for split, values in results.items():
                on_log(step, split, values)
            bar.write(
                f"step {step}: "
                + "  ".join(f"{s}/{k}={v:.4g}" for s, m in results.items() for k, v in m.items())
            )
            on_eval(state, results)
            t0 = time.perf_counter()
    bar.close()
    return state
