"""Checkpoints: a thin wrapper over orbax's CheckpointManager.

Each checkpoint ``ckpt/<step>/`` holds the train state (``state``) and a JSON
``meta`` item (step, metrics). Orbax writes into a temporary directory and
renames it when complete, so a crash never leaves a half-written checkpoint
that looks finished. The manager keeps the latest ``keep`` checkpoints plus the
best one by a validation metric.
"""

import errno
import os
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp

from rnn_jax.errors import UserError

# Fault injection for tests: the N-th save kills the process half-way (as kill -9 would),
# or fails as the write of a checkpoint onto a full disk does (ENOSPC).
DIE_IN_SAVE = "RNN_JAX_DIE_IN_SAVE"
DISK_FULL_IN_SAVE = "RNN_JAX_DISK_FULL_IN_SAVE"


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing or cannot be read."""


class Checkpoints:
    """Save and restore ``(state, meta)`` pairs under ``directory``.

    Args:
      directory: the ``ckpt`` folder of a run.
      keep: how many of the latest checkpoints to keep.
      best_metric: ``"split/name"`` in the metrics passed to :meth:`save`; the
        best checkpoint by it is kept as well.
      best_mode: ``"max"`` or ``"min"``: whether larger values of it are better.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        keep: int = 2,
        best_metric: str | None = None,
        best_mode: str = "max",
    ):
        if best_mode not in ("max", "min"):
            raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}")
        self.best_metric, self.sign = best_metric, 1.0 if best_mode == "max" else -1.0
        policies = [pp.LatestN(n=keep)]
        if best_metric:
            policies.append(
                pp.BestN(
                    get_metric_fn=lambda m: self.sign * m[best_metric],
                    n=1,
                    keep_checkpoints_without_metrics=False,
                )
            )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=pp.AnyPreservationPolicy(policies),
            create=True,
            cleanup_tmp_directories=True,  # what an interrupted save left behind
        )
        self.saves = 0
        self.manager = ocp.CheckpointManager(
            Path(directory).absolute(),
            options=options,
            item_handlers={
                "state": ocp.StandardCheckpointHandler(),
                "meta": ocp.JsonCheckpointHandler(),
            },
        )

    def save(self, step: int, state: Any, meta: dict, metrics: dict[str, float] | None = None):
        """Start an asynchronous save of ``state`` with JSON ``meta`` at ``step``."""
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
        self.saves += 1
        if os.environ.get(DISK_FULL_IN_SAVE) == str(self.saves):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.manager.directory))
        self.manager.save(step, args=args, metrics=metrics, force=True)
        if os.environ.get(DIE_IN_SAVE) == str(self.saves):
            os._exit(137)  # as kill -9 would, with the save's files half written

    def steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def best_step(self) -> int | None:
        """The kept step with the best ``best_metric`` (the latest one without a metric)."""
        self.manager.wait_until_finished()
        scored = []
        for step in self.steps():
            value = self.restore_meta(step).get("metrics", {}).get(self.best_metric)
            if value is not None:
                scored.append((self.sign * value, step))
        return max(scored)[1] if scored else self.latest_step()

    def restore_meta(self, step: int) -> dict:
        return self._restore(step, ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

    def restore(self, step: int, target: Any) -> tuple[Any, dict]:
        """Restore ``(state, meta)`` at ``step`` into the structure of ``target``.

        ``target`` may be abstract (``jax.eval_shape`` of the init function), or
        ``None``: the state as saved, as nested dicts and lists of arrays, on this
        process's first device whatever topology saved it (a run of several processes
        or devices loads in one).
        """
        if target is None:
            abstract = self._local_target(step)
        else:
            abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        out = self._restore(
            step,
            ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
            ),
        )
        return out["state"], out["meta"]

    def _local_target(self, step: int) -> Any:
        """The saved state's structure, every array placed on this process's first device."""
        self.manager.wait_until_finished()
        if step not in self.steps():
            return None  # _restore says so
        tree = self.manager.item_metadata(step)["state"]
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        return jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
            getattr(tree, "tree", tree),
        )

    def _restore(self, step: int, args):
        self.manager.wait_until_finished()
        if step not in self.steps():
            raise CheckpointError(
                f"no checkpoint at step {step} in {self.manager.directory} "
                f"(steps present: {self.steps()})"
            )
        try:
            return self.manager.restore(step, args=args)
        except Exception as err:  # orbax raises many kinds; all mean "unreadable"
            raise CheckpointError(
                f"checkpoint {self.manager.directory}/{step} cannot be read ({type(err).__name__}: "
                f"{err}); it may be corrupt or from a different model configuration. If it is "
                "corrupt, move that step's folder out of ckpt/ to resume from an earlier step, "
                "or start a new run."
            ) from err

    def close(self):
        """Wait for pending saves and release the manager (always call before exit)."""
        self.manager.wait_until_finished()
        self.manager.close()
