"""Data parallelism: split a CPU into devices, meshes, replication, sharded gradients, pacing.

A train step given a mesh (:func:`rnn_jax.training.train.make_train_step`) hands every
device a slice of each batch and averages the gradients with one all-reduce.
On a CPU the devices are its cores (:func:`split_cpu`); on GPUs, the GPUs; in a
multi-process run (:mod:`.distributed`) the mesh spans every process's
devices and each process feeds its own rows (:func:`feed`).
"""

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from rnn_jax.errors import ConfigError
from rnn_jax.training import distributed

BATCH_AXIS = "batch"  # the mesh axis data parallelism splits batches over


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
    """A one-axis mesh to split batches over: the first ``devices`` local devices, or, in a
    multi-process run (:mod:`.distributed`), ``devices`` per process on every process.

    Raises:
      ConfigError: if JAX sees fewer devices. A CPU is one device unless split
        (:func:`split_cpu`; each device then runs on its own core).
    """
    have = jax.local_devices()
    if distributed.spans_processes():
        if devices != len(have):
            raise ConfigError(
                f"--train.devices {devices}, but each process of this multi-process run has "
                f"{len(have)} device(s); pass --train.devices {len(have)} (the devices of one "
                "process: the mesh spans all processes' devices)"
            )
        return Mesh(np.array(jax.devices()), (BATCH_AXIS,), axis_types=(AxisType.Auto,))
    if not 1 <= devices <= len(have):
        hint = (
            f"start Python with JAX_NUM_CPU_DEVICES={devices} (or call rnn_jax.training."
            f"parallel.split_cpu({devices}) before JAX runs anything) to split the CPU"
            if have[0].platform == "cpu" and devices > 1
            else f"choose between 1 and {len(have)}"
        )
        raise ConfigError(
            f"data parallelism over {devices} devices, but JAX sees {len(have)} "
            f"({have[0].platform}); {hint}"
        )
    return Mesh(np.array(have[:devices]), (BATCH_AXIS,), axis_types=(AxisType.Auto,))


def check_batch(batch_size: int, mesh: Mesh) -> None:
    """Raise ConfigError unless batches of ``batch_size`` split evenly over ``mesh``."""
    n = mesh.shape[BATCH_AXIS]
    if batch_size % n:
        processes = jax.process_count()
        where = f" ({processes} processes x {n // processes})" if processes > 1 else ""
        raise ConfigError(
            f"a batch of {batch_size} examples does not split evenly over {n} devices{where}; "
            f"use a batch size divisible by {n}, or another number of devices"
        )


def replicate(tree: Any, mesh: Mesh) -> Any:
    """``tree`` with a full copy on every device of ``mesh`` (a train state, params); in a
    multi-process run every process passes the same values."""
    sharding = NamedSharding(mesh, P())
    if not distributed.spans_processes():
        return jax.device_put(tree, sharding)
    return _global(jax.device_get(tree), sharding)


def feed(batch: Any, mesh: Mesh, axis: int = 0) -> Any:
    """A host batch as global arrays split over ``mesh`` along ``axis`` (the examples;
    1 for batches stacked ``[K, B, ...]``), each process transferring only its own rows.
    Within one process, the batch as it is (the step's ``shard_map`` splits it)."""
    if not distributed.spans_processes():
        return batch
    return _global(batch, NamedSharding(mesh, P(*([None] * axis), BATCH_AXIS)))


def _global(host: Any, sharding: NamedSharding) -> Any:
    """Host arrays, the same in every process, as global arrays laid out by ``sharding``:
    each process transfers only the parts its own devices hold."""
    return jax.tree.map(
        lambda x: jax.make_array_from_callback(x.shape, sharding, x.__getitem__), host
    )


def local_copy(tree: Any) -> Any:
    """A replicated tree as arrays on this process's first device (for evaluation, reports)."""
    return jax.tree.map(lambda x: x.addressable_data(0), tree)


def sharded_grads(grads_fn: Callable, mesh: Mesh) -> Callable:
    """``grads_fn(params, batch, key)`` run on every shard of the batch, averaged over ``mesh``.

    Each device takes its slice of the batch and its own key (dropout masks
    differ between slices); the means of equal slices are the batch's means.
    """

    def on_shard(params, batch, key):
        key = jax.random.fold_in(key, jax.lax.axis_index(BATCH_AXIS))
        return jax.lax.pmean(grads_fn(params, batch, key), BATCH_AXIS)

    # check_vma=False: each device's gradient is of its own loss (no implicit psum of
    # the replicated params' cotangents), so the pmean above is the whole average.
    sharded = jax.shard_map(
        on_shard, mesh=mesh, in_specs=(P(), P(BATCH_AXIS), P()), out_specs=P(), check_vma=False
    )

    def checked(params, batch, key):
        for size in {leaf.shape[0] for leaf in jax.tree.leaves(batch)}:
            check_batch(size, mesh)
        return sharded(params, batch, key)

    return checked


def paced(step_fn: Callable) -> Callable:
    """``step_fn`` with at most two calls in flight: each call waits for the one before.

    ``step_fn`` returns a tuple whose second element (the metrics) is waited on.
    The host still runs a step ahead of the devices. Without a bound, XLA:CPU
    deadlocks once a device's queue of 32 launched multi-device programs is full
    (tests/test_parallel.py reproduces it).
    """
    previous = []

    def run(*args):
        out = step_fn(*args)
        if previous:
            jax.block_until_ready(previous.pop())
        previous.append(out[1])
        return out

    return run
