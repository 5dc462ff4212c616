"""Linear-recurrence cells, which train in parallel over time: minGRU and minLSTM (Feng et
al. 2024, "Were RNNs all we needed?") and the LRU (Orvieto et al. 2023).

Their state is a linear recurrence ``h_t = a_t * h_{t-1} + b_t`` (elementwise) whose
coefficients depend on the input alone, so a whole sequence is either a sequential scan of
one multiply-add per unit and step (the ``sequential`` path: the coefficients and outputs
of all steps are computed at once, only the multiply-add runs in the loop) or an
associative scan in ``O(log T)`` depth (the ``parallel`` path, ``jax.lax.associative_scan``).
minGRU and minLSTM keep ``h >= 0`` and run their parallel scan in log space (the papers'
form, stable over any length); the LRU's state is complex and diagonal.

Each cell is one residual block, as the papers stack them (a linear recurrence alone is a
linear map, and a stack of them would be one too)::

    u_t = LayerNorm(x_t)                          (x_t itself when it has one feature)
    h_t = a(u_t) * h_{t-1} + b(u_t)               (the recurrence)
    y_t = h_t  (minGRU, minLSTM)  or  Re(h_t C) + u_t D  (LRU)
    o_t = skip(x_t) + gelu(y_t) W_o + b_o         (skip: x_t, or x_t W_s if widths differ)

The recurrence and its carry run in at least float32, whatever the inputs' dtype.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.recurrent.cells import Cell, LayerPath, register
from rnn_jax.recurrent.diagonal import associative_recurrence, linear_recurrence
from rnn_jax.recurrent.gated import acc_dtype
from rnn_jax.typing import Carry, Lengths, Params, PRNGKey

LOG_ZERO = -1e30  # log(0) kept finite, so no inf - inf reaches a gradient


def _dense(key: PRNGKey, rows: int, cols: int, dtype) -> jax.Array:
    return jax.nn.initializers.lecun_normal()(key, (rows, cols), jnp.float32).astype(dtype)


def _block_init(key: PRNGKey, in_dim: int, hidden: int, dtype) -> Params:
    """The block's parameters around the recurrence: norm, output layer, skip."""
    k_out, k_skip = jax.random.split(key)
    params = {"w_out": _dense(k_out, hidden, hidden, dtype), "b_out": jnp.zeros(hidden, dtype)}
    if in_dim > 1:
        params["norm"] = {"scale": jnp.ones(in_dim, dtype), "bias": jnp.zeros(in_dim, dtype)}
    if in_dim != hidden:
        params["w_skip"] = _dense(k_skip, in_dim, hidden, dtype)
    return params


def _affine(u: jax.Array, w: jax.Array, b: jax.Array | None = None) -> jax.Array:
    """``u W (+ b)`` in ``u``'s dtype (the accumulation dtype)."""
    out = u @ w.astype(u.dtype)
    return out if b is None else out + _along(b, out)


def _along(v: jax.Array, like: jax.Array) -> jax.Array:
    """A per-feature vector broadcast to ``like`` (explicitly: ranks are never promoted)."""
    return jnp.broadcast_to(v.astype(like.dtype), like.shape)


def _normed(params: Params, x: jax.Array) -> jax.Array:
    """``u = LayerNorm(x)`` over the features, in the accumulation dtype."""
    x = x.astype(acc_dtype(x.dtype))
    if "norm" not in params:
        return x
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    scale, bias = (params["norm"][k].astype(x.dtype) for k in ("scale", "bias"))
    normed = (x - mean) * jax.lax.rsqrt(var + 1e-5)
    return normed * _along(scale, normed) + _along(bias, normed)


def _block_out(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """``o = skip(x) + gelu(y) W_o + b_o``, in ``x``'s dtype."""
    skip = _affine(x.astype(y.dtype), params["w_skip"]) if "w_skip" in params else x
    out = _affine(jax.nn.gelu(y), params["w_out"], params["b_out"])
    return (skip.astype(y.dtype) + out).astype(x.dtype)


def _log_g(x: jax.Array) -> jax.Array:
    """``log g(x)`` of the papers' ``g(x) = x + 0.5 if x >= 0 else sigmoid(x)`` (> 0)."""
    return jnp.where(x >= 0, jnp.log(jax.nn.relu(x) + 0.5), -jax.nn.softplus(-x))


def _chrono_bias(key: PRNGKey, hidden: int, max_memory: float) -> jax.Array:
    """``log u``, ``u ~ U[1, max_memory - 1]`` per unit (Tallec & Ollivier 2018's chrono
    initialisation): a gate ``sigmoid(log u) = u / (1 + u)`` that keeps the state for about
    ``1 + u`` steps, from 2 to ``max_memory``, as the LRU's ring does."""
    return jnp.log(jax.random.uniform(key, (hidden,), minval=1.0, maxval=max_memory - 1))


def _mingru_init(
    key: PRNGKey, in_dim: int, hidden: int, *, dtype=jnp.float32, max_memory: float = 1000.0
) -> Params:
    """minGRU: ``wx`` [D, 2H] (update gate z, candidate), ``b`` [2H] (the update gate's
    chrono-initialised: ``1 - z`` keeps the state 2 to ``max_memory`` steps), the block's."""
    k_x, k_bias, k_block = jax.random.split(key, 3)
    keep = _chrono_bias(k_bias, hidden, max_memory)
    return {
        "wx": _dense(k_x, in_dim, 2 * hidden, dtype),
        "b": jnp.concatenate([-keep, jnp.zeros(hidden)]).astype(dtype),
        **_block_init(k_block, in_dim, hidden, dtype),
    }


def _mingru_coefficients(params: Params, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(log a, log b)`` of ``h_t = (1 - z_t) h_{t-1} + z_t g(h~_t)``."""
    k, cand = jnp.split(_affine(u, params["wx"], params["b"]), 2, axis=-1)
    return -jax.nn.softplus(k), -jax.nn.softplus(-k) + _log_g(cand)


def _minlstm_init(
    key: PRNGKey, in_dim: int, hidden: int, *, dtype=jnp.float32, max_memory: float = 1000.0
) -> Params:
    """minLSTM: ``wx`` [D, 3H] (forget f, input i, candidate), ``b`` [3H] (chrono: forget
    bias ``log u``, input bias ``-log u``, as :func:`_mingru_init`), and the block's."""
    k_x, k_bias, k_block = jax.random.split(key, 3)
    keep = _chrono_bias(k_bias, hidden, max_memory)
    return {
        "wx": _dense(k_x, in_dim, 3 * hidden, dtype),
        "b": jnp.concatenate([keep, -keep, jnp.zeros(hidden)]).astype(dtype),
        **_block_init(k_block, in_dim, hidden, dtype),
    }


def _minlstm_coefficients(params: Params, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(log a, log b)`` of ``h_t = f'_t h_{t-1} + i'_t g(h~_t)``, where ``f' = f / (f + i)``
    and ``i' = i / (f + i)`` (the gates normalised, so the state stays in scale)."""
    f, i, cand = jnp.split(_affine(u, params["wx"], params["b"]), 3, axis=-1)
    diff = jax.nn.softplus(-f) - jax.nn.softplus(-i)
    return -jax.nn.softplus(diff), -jax.nn.softplus(-diff) + _log_g(cand)


def _lru_init(
    key: PRNGKey,
    in_dim: int,
    hidden: int,
    *,
    dtype=jnp.float32,
    r_min: float = 0.9,
    r_max: float = 0.999,
    max_phase: float = 2 * np.pi,
) -> Params:
    """LRU: ``lambda = exp(-exp(nu_log) + i exp(theta_log))`` with ``|lambda|`` drawn in the
    ring ``[r_min, r_max]`` (the paper's initialisation; inside the unit circle for any
    ``nu_log``), input ``B`` [D, H] complex (``b`` = ``[Re B | Im B]``, [D, 2H]), normalised by
    ``gamma = sqrt(1 - |lambda|^2)``, and the readout ``Re(h C) + u D`` as one matmul of
    ``[Re h, Im h, u]`` by ``readout`` = ``[Re C; -Im C; D]`` [2H + D, H]."""
    k_u1, k_u2, k_b, k_c, k_d, k_block = jax.random.split(key, 6)
    u1 = jax.random.uniform(k_u1, (hidden,))
    u2 = jax.random.uniform(k_u2, (hidden,))
    nu_log = jnp.log(-0.5 * jnp.log(u1 * (r_max**2 - r_min**2) + r_min**2))
    theta_log = jnp.log(max_phase * u2)
    gamma_log = jnp.log(jnp.sqrt(1 - jnp.exp(-jnp.exp(nu_log)) ** 2))
    b = jax.random.normal(k_b, (in_dim, 2 * hidden)) / np.sqrt(2 * in_dim)
    c = jax.random.normal(k_c, (2 * hidden, hidden)) / np.sqrt(hidden)
    params = {
        "nu_log": nu_log,
        "theta_log": theta_log,
        "gamma_log": gamma_log,
        "b": b,
        "readout": jnp.concatenate([c, _dense(k_d, in_dim, hidden, c.dtype)]),
    }
    params = jax.tree.map(lambda p: p.astype(dtype), params)
    return {**params, **_block_init(k_block, in_dim, hidden, dtype)}


def lru_eigenvalues(params: Params) -> jax.Array:
    """The LRU's diagonal recurrence ``lambda`` [H] (complex): ``|lambda| < 1`` always."""
    nu, theta = (params[k].astype(acc_dtype(params[k].dtype)) for k in ("nu_log", "theta_log"))
    return jnp.exp(jax.lax.complex(-jnp.exp(nu), jnp.exp(theta)))


def _lru_coefficients(params: Params, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(lambda, gamma * (u B))``, complex; ``lambda`` broadcast over the steps."""
    bu = jax.lax.complex(*jnp.split(_affine(u, params["b"]), 2, axis=-1))
    gamma = jnp.exp(params["gamma_log"]).astype(u.dtype).astype(bu.dtype)
    lam = lru_eigenvalues(params).astype(bu.dtype)
    return _along(lam, bu), bu * _along(gamma, bu)


def _lru_readout(params: Params, h: jax.Array, u: jax.Array) -> jax.Array:
    """``Re(h C) + u D``."""
    return _affine(jnp.concatenate([jnp.real(h), jnp.imag(h), u], axis=-1), params["readout"])


def _linear_cell(
    *,
    name: str,
    about: str,
    init: Callable[..., Params],
    coefficients: Callable[[Params, jax.Array], tuple[jax.Array, jax.Array]],
    log_space: bool,
    complex_state: bool = False,
    readout: Callable[[Params, jax.Array, jax.Array], jax.Array] | None = None,
) -> Cell:
    """A linear-recurrence block as a :class:`Cell` with a ``parallel`` and a ``sequential``
    path. ``coefficients(params, u) -> (a, b)`` gives ``(log a, log b)`` when ``log_space``
    (the state stays > 0), or complex ``(a, b)`` when ``complex_state`` (the carry is then
    the pair ``(Re h, Im h)``)."""
    readout = readout or (lambda params, h, u: h)

    def hidden_size(params: Params) -> int:
        return params["w_out"].shape[0]

    def init_carry(params: Params, batch_shape: tuple[int, ...]) -> Carry:
        zeros = jnp.zeros((*batch_shape, hidden_size(params)), acc_dtype(params["w_out"].dtype))
        return (zeros, zeros) if complex_state else zeros

    def state(carry: Carry) -> jax.Array:
        return jax.lax.complex(*carry) if complex_state else carry

    def as_carry(h: jax.Array) -> Carry:
        return (jnp.real(h), jnp.imag(h)) if complex_state else h

    def plain(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
        return (jnp.exp(a), jnp.exp(b)) if log_space else (a, b)

    def step(params: Params, carry: Carry, x_t: jax.Array) -> tuple[Carry, jax.Array]:
        u = _normed(params, x_t)
        a, b = plain(*coefficients(params, u))
        h = a * state(carry) + b
        return as_carry(h), _block_out(params, x_t, readout(params, h, u))

    def log_combine(first, second):
        """:func:`diagonal.combine` in log space: ``(log a, log b)`` pairs."""
        (a1, b1), (a2, b2) = first, second
        return a1 + a2, jnp.logaddexp(b1 + a2, b2)

    def run(parallel: bool):
        def over_time(params, carry, xs_tbd, seq_lengths: Lengths | None, unroll: int):
            u = _normed(params, xs_tbd)
            a, b = coefficients(params, u)
            h0 = state(carry)
            if seq_lengths is not None:  # past a sequence's end: h_t = h_{t-1}
                valid = (jnp.arange(xs_tbd.shape[0])[:, None] < seq_lengths[None, :])[..., None]
                a = jnp.where(valid, a, 0.0 if log_space else 1.0)
                b = jnp.where(valid, b, LOG_ZERO if log_space else 0.0)
            if parallel and log_space:  # fold h0 into the first step, then the scan
                positive = h0 > 0  # h0 >= 0 in log space; log 0 kept finite, with its gradient
                log_h0 = jnp.where(positive, jnp.log(jnp.where(positive, h0, 1.0)), LOG_ZERO)
                first = jnp.logaddexp(a[0] + log_h0, b[0])
                _, hs = jax.lax.associative_scan(log_combine, (a, b.at[0].set(first)), axis=0)
                hs = jnp.exp(hs)
            elif parallel:
                hs = associative_recurrence(a, b, h0)
            else:  # one multiply-add per step, backwards too (its own vjp)
                hs = linear_recurrence(*plain(a, b), h0, unroll)
            ys = _block_out(params, xs_tbd, readout(params, hs, u))
            if seq_lengths is not None:
                ys = jnp.where(valid, ys, jnp.zeros_like(ys))
            return as_carry(hs[-1]) if len(hs) else carry, ys

        return over_time

    return register(
        Cell(
            name=name,
            about=about,
            init=init,
            init_carry=init_carry,
            step=step,
            input_size=lambda params: params["wx" if "wx" in params else "b"].shape[0],
            paths=(
                LayerPath(
                    name="parallel",
                    run=run(parallel=True),
                    applies=lambda params, carry, xs: jax.default_backend() != "cpu",
                ),
                LayerPath(
                    name="sequential",
                    run=run(parallel=False),
                    applies=lambda params, carry, xs: True,
                ),
            ),
        )
    )


MINGRU = _linear_cell(
    name="mingru",
    about="minGRU block, a linear recurrence (parallel over time)",
    init=_mingru_init,
    coefficients=_mingru_coefficients,
    log_space=True,
)
MINLSTM = _linear_cell(
    name="minlstm",
    about="minLSTM block, a linear recurrence (parallel over time)",
    init=_minlstm_init,
    coefficients=_minlstm_coefficients,
    log_space=True,
)
LRU = _linear_cell(
    name="lru",
    about="LRU block, a diagonal complex linear recurrence (parallel over time)",
    init=_lru_init,
    coefficients=_lru_coefficients,
    log_space=False,
    complex_state=True,
    readout=_lru_readout,
)
