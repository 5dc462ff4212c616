"""A test-only cell whose params and carry look nothing like the library's: registered by
``conftest.py``, it runs through every generic test without any change to ``rnn_jax``.

A gated leaky average, ``z = sigmoid(x A)``, ``state = (1 - z) state + z tanh(x B + bias)``,
whose carry also counts the steps taken.
"""

import jax
import jax.numpy as jnp

from rnn_jax.recurrent.cells import Cell, register


def toy_init(key, in_dim: int, hidden: int, *, dtype=jnp.float32) -> dict:
    ka, kb = jax.random.split(key)
    return {
        "gate": {"kernel": jax.random.normal(ka, (in_dim, hidden), dtype) / in_dim**0.5},
        "candidate": {
            "kernel": jax.random.normal(kb, (in_dim, hidden), dtype) / in_dim**0.5,
            "offset": jnp.full((hidden,), 0.1, dtype),
        },
    }


def toy_init_carry(params: dict, batch_shape: tuple[int, ...]) -> dict:
    kernel = params["gate"]["kernel"]
    return {
        "state": jnp.zeros((*batch_shape, kernel.shape[1]), kernel.dtype),
        "steps": jnp.zeros(batch_shape, kernel.dtype),
    }


def toy_step(params: dict, carry: dict, x_t: jax.Array) -> tuple[dict, jax.Array]:
    z = jax.nn.sigmoid(x_t @ params["gate"]["kernel"])
    cand = params["candidate"]
    pre = x_t @ cand["kernel"]
    new = jnp.tanh(pre + jnp.broadcast_to(cand["offset"], pre.shape))
    state = (1 - z) * carry["state"] + z * new
    return {"state": state, "steps": carry["steps"] + 1}, state


TOY = register(
    Cell(
        name="toy_leaky",
        about="test-only gated leaky average",
        init=toy_init,
        init_carry=toy_init_carry,
        step=toy_step,
        input_size=lambda params: params["gate"]["kernel"].shape[0],
    )
)
