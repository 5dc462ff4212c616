"""The optimizer every experiment trains with: Adam, a learning-rate schedule, clipping."""

from dataclasses import dataclass
from typing import Annotated

import jax.numpy as jnp
import optax

from rnn_jax.errors import ConfigError
from rnn_jax.training import checks

SCHEDULES = ("constant", "cosine")


def make_optimizer(
    lr: float,
    total_steps: int,
    *,
    schedule: str = "constant",
    warmup_steps: int = 0,
    clip_norm: float | None = None,
) -> optax.GradientTransformation:
    """Adam with an optional warm-up + cosine decay schedule and global-norm clipping; the
    peak learning rate, the warm-up length and the clip norm are injected hyper-parameters
    (``state.hyperparams``), arrays rather than constants of the program.

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

    def build(learning_rate, warmup_steps, clip_norm=None):
        rate = learning_rate
        if schedule == "cosine":
            rate = warmup_cosine(learning_rate, warmup_steps, total_steps)
        adam = optax.adam(rate)
        return (
            adam if clip_norm is None else optax.chain(optax.clip_by_global_norm(clip_norm), adam)
        )

    # Whether to clip shapes the program; the values do not. Runs that differ only in them
    # share one compiled step, and a vmapped group gives each member its own.
    clip = {"clip_norm": clip_norm} if clip_norm else {}
    return optax.inject_hyperparams(build)(learning_rate=lr, warmup_steps=warmup_steps, **clip)


def warmup_cosine(peak, warmup_steps, total_steps: int) -> optax.Schedule:
    """``optax.warmup_cosine_decay_schedule(0, peak, warmup_steps, max(total_steps,
    warmup_steps + 1), end_value=0)``, the same operations written out so that the peak
    and the warm-up may be traced (optax tests them in Python)."""
    decay_steps = jnp.maximum(total_steps, warmup_steps + 1) - warmup_steps

    def rate(count):
        warm = jnp.clip(count, 0, warmup_steps)
        linear = (0.0 - peak) * (1 - warm / warmup_steps) + peak
        after = jnp.minimum(count - warmup_steps, decay_steps)
        decay = 0.5 * (1 + jnp.cos(jnp.pi * after / decay_steps))
        cosine = peak * ((1 - 0.0) * decay**1.0 + 0.0)  # optax's alpha=0, exponent=1.0
        return jnp.where(count < warmup_steps, linear, cosine)

    return rate


@dataclass(frozen=True)
class OptimConfig:
    """The optimizer settings shared by every experiment's ``train`` section (``--train.*``)."""

    lr: Annotated[float, checks.positive] = 1e-3
    """Peak learning rate of Adam."""
    schedule: Annotated[str, checks.one_of(*SCHEDULES)] = "cosine"
    """Learning-rate schedule: constant, or cosine (linear warm-up, then decay to 0)."""
    warmup_steps: Annotated[int, checks.non_negative] = 100
    """Warm-up steps of the cosine schedule."""
    clip_norm: Annotated[float, checks.non_negative] = 1.0
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
