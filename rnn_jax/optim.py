"""The optimizer every experiment trains with: Adam, a learning-rate schedule, clipping."""

from dataclasses import dataclass

import optax

from rnn_jax.errors import ConfigError

SCHEDULES = ("constant", "cosine")


def make_optimizer(
    lr: float,
    total_steps: int,
    *,
    schedule: str = "constant",
    warmup_steps: int = 0,
    clip_norm: float | None = None,
) -> optax.GradientTransformation:
    """Adam with an optional warm-up + cosine decay schedule and global-norm clipping, the
    peak learning rate injected as a hyper-parameter (``state.hyperparams["learning_rate"]``).

    Args:
      lr: peak learning rate.
      total_steps: steps of the whole run (the cosine decays to 0 over them).
      schedule: ``"constant"`` or ``"cosine"``.
      warmup_steps: linear warm-up from 0 (cosine only).
      clip_norm: clip gradients to this global norm; ``None`` or 0 disables.

    Raises:
      ConfigError: for an unknown schedule.
    """
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")

    def build(learning_rate):
        rate = learning_rate
        if schedule == "cosine":
            # optax.warmup_cosine_decay_schedule(0, lr, warmup, decay, end_value=0), written
            # out: it tests `peak == 0` in Python, which a traced peak cannot answer.
            decay = max(total_steps, warmup_steps + 1)
            rate = optax.join_schedules(
                [
                    optax.linear_schedule(0.0, learning_rate, warmup_steps),
                    optax.cosine_decay_schedule(learning_rate, decay - warmup_steps, alpha=0.0),
                ],
                [warmup_steps],
            )
        adam = optax.adam(rate)
        return optax.chain(optax.clip_by_global_norm(clip_norm), adam) if clip_norm else adam

    # The peak rate lives in the optimizer state (an array), not in the program: runs that
    # differ only in it share one compiled step, and a vmapped group gives each its own.
    return optax.inject_hyperparams(build)(learning_rate=lr)


@dataclass(frozen=True)
class OptimConfig:
    """The optimizer settings shared by every experiment's ``train`` section (``--train.*``)."""

    lr: float = 1e-3
    """Peak learning rate of Adam."""
    schedule: str = "cosine"
    """Learning-rate schedule: constant, or cosine (linear warm-up, then decay to 0)."""
    warmup_steps: int = 100
    """Warm-up steps of the cosine schedule."""
    clip_norm: float = 1.0
    """Clip gradients to this global norm; 0 disables."""

    def optimizer(self, total_steps: int) -> optax.GradientTransformation:
        """The :func:`make_optimizer` these settings describe, for a run of ``total_steps``."""
        return make_optimizer(
            self.lr,
            total_steps,
            schedule=self.schedule,
            warmup_steps=self.warmup_steps,
            clip_norm=self.clip_norm,
        )
