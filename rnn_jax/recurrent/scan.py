"""Running a cell over time with ``jax.lax.scan``: :func:`unroll` and :func:`flip_valid`."""

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.recurrent.cells import Cell, LayerPath
from rnn_jax.typing import Carry, Lengths, Params, Seq, SeqOut


def default_hoist() -> bool:
    """Whether to project all inputs before the scan (one big matmul) by default.

    On GPUs the big matmul wins (cuDNN does it). On CPU the per-step projection
    inside the scan body was faster in ``scripts/bench_cells.py`` (the large
    hoisted buffers cost page faults), so CPU keeps it in the body.
    """
    return jax.default_backend() != "cpu"


def flip_valid(xs_btd: jax.Array, seq_lengths: Lengths | None) -> jax.Array:
    """Reverse each sequence in time within its valid prefix; padding stays at the end.

    ``xs_btd`` is ``[B, T, ...]``. Without lengths this is a plain flip of axis 1.
    """
    if seq_lengths is None:
        return jnp.flip(xs_btd, axis=1)
    t = xs_btd.shape[1]
    idx_bt = seq_lengths[:, None] - 1 - jnp.arange(t)[None, :]
    idx_bt = jnp.where(idx_bt >= 0, idx_bt, jnp.arange(t)[None, :])
    idx = idx_bt.reshape(idx_bt.shape + (1,) * (xs_btd.ndim - 2))
    return jnp.take_along_axis(xs_btd, idx, axis=1)


def _check_inputs(cell: Cell, params: Params, xs, carry: Carry, seq_lengths, time_major: bool):
    """Shape checks at trace time (free at run time); raise ``ValueError`` naming the shapes."""
    layout = "[time, batch, features]" if time_major else "[batch, time, features]"
    if xs.ndim != 3:
        raise ValueError(
            f"unroll expects a rank-3 input {layout}, got shape {tuple(xs.shape)}; "
            "add a batch axis with xs[None] or a feature axis with xs[..., None]"
        )
    d = cell.input_size(params)
    if xs.shape[-1] != d:
        raise ValueError(
            f"input {layout} has shape {tuple(xs.shape)}: {xs.shape[-1]} features per step, but "
            f"the {cell.name} cell expects {d} (its params' input size)"
        )
    b = xs.shape[0 if not time_major else 1]
    t = xs.shape[1 if not time_major else 0]
    want = jax.eval_shape(lambda p: cell.init_carry(p, (b,)), params)
    got, expected = jax.tree.structure(carry), jax.tree.structure(want)
    shapes = [tuple(jnp.shape(x)) for x in jax.tree.leaves(carry)]
    want_shapes = [tuple(x.shape) for x in jax.tree.leaves(want)]
    if got != expected or shapes != want_shapes:
        raise ValueError(
            f"carry has shapes {shapes}, expected {want_shapes} for a batch of {b}; "
            "build it with cell.init_carry(params, (batch,))"
        )
    if seq_lengths is not None:
        if jnp.shape(seq_lengths) != (b,):
            raise ValueError(
                f"seq_lengths has shape {tuple(jnp.shape(seq_lengths))}, expected ({b},): "
                "one length per sequence in the batch"
            )
        if not jnp.issubdtype(jnp.asarray(seq_lengths).dtype, jnp.integer):
            raise ValueError(f"seq_lengths must be integers, got {jnp.asarray(seq_lengths).dtype}")
        if not isinstance(seq_lengths, jax.core.Tracer):
            lengths = np.asarray(seq_lengths)
            if lengths.min() < 0 or lengths.max() > t:
                raise ValueError(
                    f"seq_lengths must lie in [0, {t}] (the number of time steps), "
                    f"got min {lengths.min()} and max {lengths.max()}"
                )


def unroll(
    cell: Cell,
    params: Params,
    xs: Seq,
    *,
    carry: Carry | None = None,
    seq_lengths: Lengths | None = None,
    reverse: bool = False,
    time_major: bool = False,
    unroll: int = 1,
    hoist: bool | None = None,
    path: str | None = None,
) -> tuple[Carry, SeqOut]:
    """Run ``cell`` over a sequence: its fastest path that applies, else ``jax.lax.scan``.

    Args:
      cell: any cell that meets the contract (e.g. ``rnn_jax.LSTM``).
      params: the cell's params (from ``cell.init``).
      xs: inputs ``[B, T, D]``, or ``[T, B, D]`` with ``time_major``.
      carry: initial carry; zeros (``cell.init_carry``) when omitted.
      seq_lengths: ``[B]`` ints in ``[0, T]``. Past its end a sequence's carry is
        frozen (so the final carry is the one at its last valid step) and its
        outputs are zero. Traced lengths are not range-checked.
      reverse: run from the last valid step back to the first; outputs stay
        aligned with the inputs.
      time_major: inputs and outputs are ``[T, B, ...]``.
      unroll: steps per scan iteration (``lax.scan``'s ``unroll``).
      hoist: for a split cell on the generic scan, project all inputs with one
        matmul before the scan (``True``) or per step in the body (``False``);
        default :func:`default_hoist`.
      path: ``"scan"`` for the generic scan, or the name of one of the cell's
        fast paths (``cell.paths``, e.g. the LSTM's ``"fused"``); default: the
        first fast path that applies to these operands, else the scan.

    Returns:
      ``(final_carry, ys)``: ys is ``[B, T, H]`` (or ``[T, B, H]``).

    Raises:
      ValueError: on a wrong rank, feature size, carry shape or ``seq_lengths``,
        or a ``path`` the cell does not have.
    """
    if carry is None and xs.ndim == 3:
        carry = cell.init_carry(params, (xs.shape[1] if time_major else xs.shape[0],))
    _check_inputs(cell, params, xs, carry, seq_lengths, time_major)
    hoist = default_hoist() if hoist is None else hoist
    if seq_lengths is not None:
        seq_lengths = jnp.asarray(seq_lengths)

    xs_btd = jnp.swapaxes(xs, 0, 1) if time_major else xs
    if reverse:
        xs_btd = flip_valid(xs_btd, seq_lengths)
    xs_tbd = jnp.swapaxes(xs_btd, 0, 1)

    fast = _choose_path(cell, path, params, carry, xs_tbd)
    if fast is not None:
        carry, ys_tbh = fast.run(params, carry, xs_tbd, seq_lengths, unroll)
    else:
        carry, ys_tbh = _scan(cell, params, carry, xs_tbd, seq_lengths, hoist, unroll)

    ys_bth = jnp.swapaxes(ys_tbh, 0, 1)
    if reverse:
        ys_bth = flip_valid(ys_bth, seq_lengths)
    return carry, (jnp.swapaxes(ys_bth, 0, 1) if time_major else ys_bth)


def _choose_path(cell: Cell, path: str | None, params, carry, xs_tbd) -> LayerPath | None:
    """The fast path to run, or ``None`` for the generic scan."""
    if path is None:
        return next((p for p in cell.paths if p.applies(params, carry, xs_tbd)), None)
    if path == "scan":
        return None
    for p in cell.paths:
        if p.name == path:
            return p
    names = ["scan", *(p.name for p in cell.paths)]
    raise ValueError(f"the {cell.name} cell has no path {path!r}; choose one of {names}")


def _scan(cell: Cell, params, carry, xs_tbd, seq_lengths, hoist, unroll):
    """The generic scan over time-major inputs, with optional length masking."""
    split = cell.project is not None and cell.recur is not None
    if split and hoist:
        inputs = cell.project(params, xs_tbd)

        def step(carry, xw_t):
            return cell.recur(params, carry, xw_t)
    else:
        inputs = xs_tbd

        def step(carry, x_t):
            return cell.step(params, carry, x_t)

    if seq_lengths is None:
        return jax.lax.scan(step, carry, inputs, unroll=unroll)

    t = xs_tbd.shape[0]
    mask_tb = jnp.arange(t)[:, None] < seq_lengths[None, :]

    def masked_step(carry, inp):
        x_t, valid_b = inp
        new, y = step(carry, x_t)

        def keep(new, old):
            # [B] -> [B, 1, ...]: pad the mask on the right so it broadcasts over the rest.
            return jnp.where(valid_b.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)

        return jax.tree.map(keep, new, carry), keep(y, jnp.zeros_like(y))

    return jax.lax.scan(masked_step, carry, (inputs, mask_tb), unroll=unroll)
