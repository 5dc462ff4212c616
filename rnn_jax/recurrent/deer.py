"""Nonlinear cells evaluated in parallel over time: quasi-DEER (Lim et al. 2024, "Parallelizing
non-linear sequential models over the sequence length"; Gonzalez et al. 2024, "Towards
scalable and stable parallelization of nonlinear RNNs").

The states ``s_t = f(s_{t-1}, x_t)`` of a whole sequence are a fixed point. Newton's method
guesses every state at once and linearises ``f`` around the guess; with the Jacobian's
diagonal ``a_t`` (quasi-DEER) the linearised system ``s_t = a_t s_{t-1} + f(g_{t-1}, x_t) -
a_t g_{t-1}`` is a diagonal linear recurrence, solved by an associative scan in ``O(log T)``
depth. Step ``t`` is exact once step ``t - 1`` is, so ``T`` iterations always converge; a
contracting cell converges in far fewer. Past ``max_iterations`` the sequential scan is run
instead, so the result is always the scan's to the tolerance.

The carry's leaves are one state vector of ``S`` units, in float32 or wider. Where the cell
gives its Jacobian's diagonal (:attr:`Cell.jacobian_diagonal`) an iteration costs about two steps of
arithmetic over all ``T`` at once; otherwise ``S`` Jacobian-vector products.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax.recurrent import scan
from rnn_jax.recurrent.cells import Cell
from rnn_jax.recurrent.diagonal import associative_recurrence
from rnn_jax.typing import Carry, Lengths, Params

MAX_ITERATIONS = 100
ULPS = 16  # converged: no state unit changed by more than this many ulps of the states' scale


class DeerResult(NamedTuple):
    carry: Carry  # the final carry
    ys: jax.Array  # outputs [T, B, H]
    iterations: jax.Array  # Newton iterations run (int32)
    converged: jax.Array  # bool: False means the sequential scan gave the result


def _state_dtype(carry: Carry) -> jnp.dtype:
    """float32, or the carry's widest float dtype if wider (float64 under x64)."""
    dtypes = [jnp.dtype(jnp.float32), *(jnp.dtype(leaf.dtype) for leaf in jax.tree.leaves(carry))]
    return max(dtypes, key=lambda d: d.itemsize)


def _flatten(carry: Carry, dtype=jnp.float32) -> jax.Array:
    return jnp.concatenate([leaf.astype(dtype) for leaf in jax.tree.leaves(carry)], -1)


def _unflatten(flat: jax.Array, like: Carry) -> Carry:
    leaves, tree = jax.tree.flatten(like)
    cuts = [sum(leaf.shape[-1] for leaf in leaves[: i + 1]) for i in range(len(leaves) - 1)]
    parts = jnp.split(flat, cuts, axis=-1)
    return jax.tree.unflatten(tree, [p.astype(leaf.dtype) for p, leaf in zip(parts, leaves)])


def quasi_deer(
    cell: Cell,
    params: Params,
    xs_tbd: jax.Array,
    carry: Carry,
    *,
    seq_lengths: Lengths | None = None,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float | None = None,
) -> DeerResult:
    """``cell`` over time-major inputs ``xs_tbd [T, B, D]`` from ``carry`` by quasi-DEER
    iterations, with the generic scan's semantics (past a sequence's length its carry is
    frozen and its outputs are zero). Converged: no state unit changed by more than
    ``tolerance`` (default ``ULPS`` ulps of ``1 + max |state|``) in the last iteration. Not
    differentiable (a ``while_loop``); :func:`deer_layer` is."""
    split = cell.project is not None and cell.recur is not None
    inputs = cell.project(params, xs_tbd) if split else xs_tbd
    recur = cell.recur if split else cell.step
    t, b = xs_tbd.shape[:2]
    valid = jnp.ones((t, b), bool)
    if seq_lengths is not None:
        valid = jnp.arange(t)[:, None] < seq_lengths[None, :]
    dtype = _state_dtype(carry)
    flat = lambda c: _flatten(c, dtype)  # noqa: E731
    s0 = flat(carry)

    def step(s_prev, x_t, valid_b):
        new, y = recur(params, _unflatten(s_prev, carry), x_t)
        keep = valid_b[:, None]
        s_new = jnp.where(jnp.broadcast_to(keep, s_prev.shape), flat(new), s_prev)
        return s_new, jnp.where(jnp.broadcast_to(keep, y.shape), y, jnp.zeros_like(y))

    def diagonal(s_prev, x_t, valid_b):
        if split and cell.jacobian_diagonal is not None:
            a = flat(cell.jacobian_diagonal(params, _unflatten(s_prev, carry), x_t))
        else:  # one Jacobian-vector product per unit, each keeping its own entry
            basis = jnp.broadcast_to(
                jnp.eye(s_prev.shape[-1], dtype=dtype)[:, None, :],
                (s_prev.shape[-1], *s_prev.shape),
            )
            along = lambda v: jax.jvp(lambda s: step(s, x_t, valid_b)[0], (s_prev,), (v,))[1]  # noqa: E731
            a = jnp.diagonal(jax.vmap(along)(basis), axis1=0, axis2=2)  # [B, S]
        return jnp.where(jnp.broadcast_to(valid_b[:, None], a.shape), a, jnp.ones_like(a))

    every_step = jax.vmap(step)

    def previous(states):
        return jnp.concatenate([s0[None], states[:-1]])

    def newton(loop):
        states, k, _ = loop
        prev = previous(states)
        f, _ = every_step(prev, inputs, valid)
        a = jax.vmap(diagonal)(prev, inputs, valid)
        new = associative_recurrence(a, f - a * prev, s0)
        change = jnp.max(jnp.abs(new - states))
        limit = (
            tolerance
            if tolerance is not None
            else ULPS * jnp.finfo(dtype).eps * (1 + jnp.max(jnp.abs(new)))
        )
        return new, k + 1, change <= limit

    def going(loop):
        _, k, done = loop
        return (k < max_iterations) & ~done

    start = (jnp.broadcast_to(s0, (t, *s0.shape)), jnp.int32(0), jnp.bool_(False))
    states, iterations, converged = jax.lax.while_loop(going, newton, start)

    def parallel():
        _, ys = every_step(previous(states), inputs, valid)
        return _unflatten(states[-1], carry), ys

    def sequential():
        return _sequential(cell, params, carry, xs_tbd, seq_lengths)

    final, ys = jax.lax.cond(converged, parallel, sequential)
    return DeerResult(final, ys, iterations, converged)


def _sequential(cell, params, carry, xs_tbd, seq_lengths):
    """The generic scan over time-major ``xs_tbd``: the fallback, and the gradient's path."""
    kw = {"seq_lengths": seq_lengths, "time_major": True, "path": "scan"}
    return scan.unroll(cell, params, xs_tbd, carry=carry, **kw)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _layer(cell, params, carry, xs_tbd, seq_lengths):
    result = quasi_deer(cell, params, xs_tbd, carry, seq_lengths=seq_lengths)
    return result.carry, result.ys


def _layer_fwd(cell, params, carry, xs_tbd, seq_lengths):
    return _layer(cell, params, carry, xs_tbd, seq_lengths), (params, carry, xs_tbd, seq_lengths)


def _layer_bwd(cell, residuals, cotangents):
    params, carry, xs_tbd, seq_lengths = residuals
    _, vjp = jax.vjp(lambda *diff: _sequential(cell, *diff, seq_lengths), params, carry, xs_tbd)
    return (*vjp(cotangents), None)


_layer.defvjp(_layer_fwd, _layer_bwd)


def deer_layer(
    cell: Cell,
    params: Params,
    carry: Carry,
    xs_tbd: jax.Array,
    seq_lengths: Lengths | None,
    unroll: int,
) -> tuple[Carry, jax.Array]:
    """A :class:`~rnn_jax.recurrent.cells.LayerPath` run (``unroll(..., path="deer")``): the
    forward pass by :func:`quasi_deer`; the gradient is the sequential scan's (recomputed)."""
    del unroll  # no scan to unroll
    return _layer(cell, params, carry, xs_tbd, seq_lengths)
