"""Several runs of one program trained together: states stacked on a member axis, one
vmapped step for all of them (the run shell's :func:`rnn_jax.training.experiment.fit`
trains them through the same loop as a solo run).

The members of a group are tasks that differ only in their seed (their
initialisation, data order, dropout masks and, where the experiment draws it
from the seed, their validation split) and the optimizer's peak learning rate,
warm-up length and clip norm, which each member's optimizer state holds as
arrays (:mod:`rnn_jax.training.optim`). Each
member's parameters and optimizer state sit at index ``m`` of every array of the
stacked state, the step is ``jax.vmap``-ed over that axis and jitted once, and
every member writes the run directory its solo run would: metrics, checkpoints, then
its own report. A member whose loss turns non-finite is frozen from that step on and
marked failed (``failed.json``) while the others train on.
"""

import json

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from rnn_jax.errors import ConfigError
from rnn_jax.recurrent.fused.cudnn import vmap_without_cudnn
from rnn_jax.training import parallel, rundir, train
from rnn_jax.training.task import Task

MEMBER_AXIS = "member"  # the mesh axis a group's members are split over
SHARED = ("seed", "train.lr", "train.warmup_steps", "train.clip_norm")
"""Settings in which the members of a group may differ (each member's optimizer state holds
its own learning rate, warm-up and clip norm as arrays)."""


def program_key(settings: dict) -> tuple:
    """What separates groups: every setting but the :data:`SHARED` ones (of the clip norm,
    whether it is on). Runs that differ in those alone train together as one compiled
    program. ``settings`` maps dotted paths to values (or their text)."""
    key = []
    for path, value in settings.items():
        if path == "train.clip_norm":
            key.append((path, "on" if float(value) else "off"))
        elif path not in SHARED:
            key.append((path, value))
    return tuple(key)


def stack(trees: list) -> object:
    """Trees of equal structure stacked on a new leading (member) axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def unstack(tree: object, m: int) -> object:
    """Member ``m`` of a stacked tree."""
    return jax.tree.map(lambda x: x[m], tree)


def check_group(tasks: list[Task]) -> None:
    """Raise ConfigError unless the tasks differ in :data:`SHARED` settings alone (their
    seed and the optimizer's injected hyper-parameters)."""

    def flat(settings: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in settings.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
        return out

    keys = {json.dumps(program_key(flat(rundir.config_to_dict(t.config)))) for t in tasks}
    if len(keys) != 1:
        raise ConfigError(
            "members of a group must differ only in their seed, learning rate, warm-up steps "
            "and clip norm (on in all, or off in all)"
        )
    if tasks[0].config.train.devices != 1:
        raise ConfigError("grouped members run on one device each (--train.devices 1)")


def make_group_step(task: Task, mesh: Mesh | None = None):
    """``((states, alive), batches) -> ((states, alive), metrics)``, vmapped over members and
    jitted; a member that is not alive, or whose loss or gradient turns non-finite, keeps
    its state. With ``task.steps_per_call`` K > 1 each member's batches are ``[K, B, ...]``
    and K steps run in one call. With a ``mesh`` (:func:`member_mesh`) each device runs its
    share of the members."""
    step = train.make_step_fn(
        task.loss_fn, task.config.train.optimizer(task.steps), steps_per_call=task.steps_per_call
    )

    def member(carry, batch):
        state, alive = carry
        new, metrics = step(state, batch)
        alive = alive & jnp.isfinite(metrics["loss"]) & jnp.isfinite(metrics["grad_norm"])
        kept = jax.tree.map(lambda n, o: jnp.where(alive, n, o), new, state)
        return (kept, alive), metrics

    group = vmap_without_cudnn(member)  # cuDNN's RNN has no batching rule
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
