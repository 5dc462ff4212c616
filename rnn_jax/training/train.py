"""Training: a pytree train state, a jitted train step, evaluation, and the fit loop.

The step is a pure function ``(state, batch) -> (state, metrics)`` with no
Python-side state, and data feeding (:mod:`rnn_jax.training.batching`) is separate from
it, so vmapped sweeps can wrap it unchanged; given a mesh it splits each batch
over several devices (:mod:`rnn_jax.training.parallel`).
"""

import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh
from tqdm.auto import tqdm

from rnn_jax.errors import ConfigError, DivergedError
from rnn_jax.recurrent.fused.cudnn import vmap_without_cudnn
from rnn_jax.training import batching, parallel
from rnn_jax.training.batching import padded_chunks
from rnn_jax.typing import Params

Batch = Mapping[str, Any]
Metrics = dict[str, jax.Array]
LossFn = Callable[[Params, Batch, jax.Array], tuple[jax.Array, Metrics]]


class TrainState(NamedTuple):
    """Everything a run needs to continue: step, params, optimizer state and PRNG key."""

    step: jax.Array  # int32 scalar
    params: Params
    opt_state: optax.OptState
    key: jax.Array  # raw uint32[2] key (orbax stores it as a plain array)


def init_state(params: Params, tx: optax.GradientTransformation, seed: int) -> TrainState:
    """A fresh state at step 0."""
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.PRNGKey(seed))


def make_step_fn(
    loss_fn: LossFn,
    tx: optax.GradientTransformation,
    mesh: Mesh | None = None,
    *,
    steps_per_call: int = 1,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """The train step ``(state, batch) -> (state, metrics)`` as a pure function, not jitted:
    what :func:`make_train_step` jits, and what a vmapped group of runs maps over members.
    With ``steps_per_call`` K > 1 it takes batches stacked ``[K, B, ...]``, runs K steps in
    one ``lax.scan`` and returns the metrics averaged over them."""

    def grads_fn(params, batch, key):
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, key)
        return loss, aux, grads

    if mesh is not None:
        grads_fn = parallel.sharded_grads(grads_fn, mesh)

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

    if steps_per_call == 1:
        return step

    def multi(state: TrainState, batches: Batch) -> tuple[TrainState, Metrics]:
        state, metrics = jax.lax.scan(step, state, batches)
        return state, jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)

    return multi


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
      mesh: split every batch over this :func:`rnn_jax.training.parallel.data_parallel_mesh`;
        the state must then be :func:`rnn_jax.training.parallel.replicate`-d on it.
    """
    step = make_step_fn(loss_fn, tx, mesh, steps_per_call=steps_per_call)
    jitted = jax.jit(step, donate_argnums=0)
    return jitted if mesh is None else parallel.paced(jitted)


def evaluate(
    sums_fn: Callable[[Params, Batch], Metrics],
    params: Params,
    arrays: Mapping[str, np.ndarray],
    batch_size: int,
) -> dict[str, float]:
    """Averages over a whole split from per-batch sums (exact for a partial last batch).

    ``sums_fn(params, batch)`` is jitted by the caller and returns sums plus a
    ``"count"``; batches come from :func:`rnn_jax.training.batching.padded_chunks` (one
    shape, one compile; padding weighted 0 through ``batch["weight"]``).
    """
    totals: dict[str, jax.Array] = {}
    for chunk in padded_chunks(arrays, batch_size):
        sums = sums_fn(params, chunk)
        totals = sums if not totals else jax.tree.map(jnp.add, totals, sums)
    totals = jax.device_get(totals)
    count = totals.pop("count")
    return {k: float(v) / float(count) for k, v in totals.items()}


def classification_sums(
    logits: jax.Array, labels: jax.Array, weights: jax.Array
) -> dict[str, jax.Array]:
    """A classifier's weighted sums over a batch, as :class:`Validation` adds them up:
    cross-entropy, correct answers and the count (padding has weight 0)."""
    xent = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return {
        "loss": jnp.sum(weights * xent),
        "accuracy": jnp.sum(weights * correct),
        "count": jnp.sum(weights),
    }


class Validation:
    """A validation split scored from per-batch sums: ``validation(params) -> {name: mean}``.

    What a task hands over instead of an opaque function when it can, so that a
    group of runs (:mod:`rnn_jax.training.members`) scores all its members with one vmapped,
    once-compiled call (:func:`evaluate_members`).
    """

    def __init__(
        self,
        sums_fn: Callable[[Params, Batch], Metrics],
        arrays: Mapping[str, np.ndarray],
        batch_size: int,
    ):
        self.sums_fn, self.arrays, self.batch_size = sums_fn, arrays, batch_size
        self._jitted = jax.jit(sums_fn)
        self._vmapped = jax.jit(vmap_without_cudnn(sums_fn))  # for groups; compiled on first use

    def __call__(self, params: Params) -> dict[str, float]:
        return evaluate(self._jitted, params, self.arrays, self.batch_size)


def evaluate_members(validations: list[Validation], params: Params) -> list[dict[str, float]]:
    """Each member's :class:`Validation` of its own parameters (stacked on a leading member
    axis), in one vmapped call per batch. The members' splits must have equal shapes and
    their ``sums_fn`` compute the same thing (they are tasks of one program); the first
    member's is used."""
    first = validations[0]
    totals: dict[str, jax.Array] = {}
    chunks = zip(*(padded_chunks(v.arrays, first.batch_size) for v in validations))
    for parts in chunks:
        sums = first._vmapped(params, batching.stack(list(parts)))
        totals = sums if not totals else jax.tree.map(jnp.add, totals, sums)
    totals = jax.device_get(totals)
    count = totals.pop("count")
    return [
        {k: float(v[m]) / float(count[m]) for k, v in totals.items()} for m in range(len(count))
    ]


class Evaluation(NamedTuple):
    """What :func:`fit` calls at evaluation points: one ``{split: {name: value}}`` per member."""

    fn: Callable[[Any], list[dict[str, dict[str, float]]]]
    every: int


def fit(
    state: Any,
    train_step: Callable[[Any, Batch], tuple[Any, Metrics]],
    data: Iterator[Batch],
    *,
    start: int,
    total_steps: int,
    members: int = 1,
    steps_per_call: int = 1,
    log_every: int = 100,
    evaluation: Evaluation | None = None,
    on_log: Callable[[int, int, str, dict[str, float]], None] = lambda m, step, split, v: None,
    on_eval: Callable[[Any, list[dict[str, dict[str, float]]]], None] = lambda s, r: None,
    on_fail: Callable[[int, str], None] = lambda m, why: None,
    desc: str = "train",
    progress: bool = True,
) -> Any:
    """Run ``train_step`` from step ``start`` until ``total_steps``, logging and evaluating on
    the way: the one training loop of solo runs and of groups of members.

    ``train_step(state, batch) -> (state, metrics)``; with ``members`` M > 1 every metric
    is ``[M]`` (a vmapped group that freezes a member whose loss turns non-finite).
    Metrics stay on the device between log points (no host sync per step); at each log
    point they are fetched once, averaged, checked per member for NaN/Inf and shown on
    the progress bar. ``on_log(member, step, split, values)`` gets each live member's
    rows; a member whose metrics are not finite gets ``on_fail(member, why)`` instead and
    no more rows. Evaluations run every ``evaluation.every`` steps and at the end, their
    results go to ``on_log`` and ``on_eval`` (where checkpoints are written). At the end,
    each live member's ``"time"`` row says where the wall time went: ``total_s``,
    ``first_call_s`` (compilation), ``eval_s`` and ``checkpoint_s``. Without
    ``progress``, no bar and no printed evaluations (the other processes of a
    multi-process run).

    Raises:
      DivergedError: once every member has failed (a solo run: at its first non-finite
        log point).
    """
    if (total_steps - start) % steps_per_call:
        raise ConfigError(
            f"{total_steps - start} remaining steps are not a multiple of steps_per_call="
            f"{steps_per_call}"
        )
    pending: list[Metrics] = []
    failed: set[int] = set()
    last_log, t0 = start, time.perf_counter()
    # Where the wall time goes: the first call (compile), evaluations, checkpoints; the
    # rest is the steps themselves and the loop around them.
    clock = {"total_s": t0, "first_call_s": 0.0, "eval_s": 0.0, "checkpoint_s": 0.0}
    bar = tqdm(
        total=total_steps,
        initial=start,
        desc=desc,
        dynamic_ncols=True,
        mininterval=1.0,
        disable=not progress,
    )
    step = start
    while step < total_steps:
        tic = time.perf_counter()
        state, metrics = train_step(state, next(data))
        if step == start:
            jax.block_until_ready(metrics)
            clock["first_call_s"] = time.perf_counter() - tic
        pending.append(metrics)
        step += steps_per_call
        bar.update(steps_per_call)
        due_eval = evaluation is not None and (
            step // evaluation.every > (step - steps_per_call) // evaluation.every
            or step == total_steps
        )
        if step - last_log >= log_every or due_eval or step == total_steps:
            rate = (step - last_log) / (time.perf_counter() - t0)
            rows = _member_means(jax.device_get(pending), members)
            for m, row in enumerate(rows):
                bad = [k for k, v in row.items() if not math.isfinite(v)]
                if m in failed:
                    continue
                if bad:
                    failed.add(m)
                    why = (
                        f"non-finite {bad} between steps {last_log} and {step}; lower the "
                        "learning rate or enable gradient clipping (the last checkpoint is kept)"
                    )
                    on_fail(m, why)
                    if len(failed) == members:
                        bar.close()
                        raise DivergedError(why)
                    continue
                on_log(m, step, "train", {**row, "steps_per_s": rate})
            live = [row for m, row in enumerate(rows) if m not in failed]
            bar.set_postfix({k: f"{v:.4g}" for k, v in live[0].items()})
            pending, last_log, t0 = [], step, time.perf_counter()
        if due_eval:
            tic = time.perf_counter()
            results = evaluation.fn(state)
            clock["eval_s"] += time.perf_counter() - tic
            for m, result in enumerate(results):
                for split, values in result.items():
                    if m not in failed:
                        on_log(m, step, split, values)
            if progress:
                shown = next(r for m, r in enumerate(results) if m not in failed)
                bar.write(
                    f"step {step}: "
                    + "  ".join(f"{s}/{k}={v:.4g}" for s, m in shown.items() for k, v in m.items())
                    + (f" (member 1 of {members})" if members > 1 else "")
                )
            tic = time.perf_counter()
            on_eval(state, results)
            clock["checkpoint_s"] += time.perf_counter() - tic
            t0 = time.perf_counter()
    clock["total_s"] = time.perf_counter() - clock["total_s"]
    for m in range(members):
        if m not in failed:
            on_log(m, step, "time", clock)
    bar.close()
    return state


def _member_means(pending: list[Metrics], members: int) -> list[dict[str, float]]:
    """Each member's metrics averaged over the pending calls (scalars or ``[members]``)."""
    means = {k: np.mean([np.asarray(p[k]) for p in pending], axis=0) for k in pending[0]}
    return [
        {k: float(np.reshape(v, (members,))[m]) for k, v in means.items()} for m in range(members)
    ]
