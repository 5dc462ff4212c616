"""Minibatches of fixed shapes: a resumable shuffled training stream, padded evaluation chunks."""

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import numpy as np

from rnn_jax.errors import ConfigError


def stack(batches: list[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Batches of equal shapes (one per member of a group of runs) stacked on a new leading
    axis, on the host: one array per key, not one device op per array."""
    return {k: np.stack([b[k] for b in batches]) for k in batches[0]}


def batches(
    arrays: Mapping[str, np.ndarray],
    batch_size: int,
    *,
    seed: int,
    start_step: int = 0,
    steps_per_call: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """Endless shuffled minibatches of a fixed shape, from step ``start_step`` on.

    Each epoch draws its own permutation from ``(seed, epoch)``, and the last
    partial batch is dropped, so the stream is a pure function of the step:
    a resumed run sees exactly the batches an uninterrupted one would. With
    ``steps_per_call = K`` it yields K consecutive batches stacked ``[K, B, ...]``.

    Raises:
      ConfigError: if ``batch_size`` exceeds the number of examples.
    """
    n = len(next(iter(arrays.values())))
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise ConfigError(
            f"batch size {batch_size} is larger than the {n} training examples; "
            "lower --train.batch-size"
        )
    step, perm_epoch, perm = start_step, None, None
    while True:
        group = []
        for _ in range(steps_per_call):
            epoch, i = divmod(step, per_epoch)
            if epoch != perm_epoch:
                perm_epoch, perm = epoch, np.random.default_rng([seed, epoch]).permutation(n)
            idx = np.sort(perm[i * batch_size : (i + 1) * batch_size])
            group.append({k: v[idx] for k, v in arrays.items()})
            step += 1
        if steps_per_call == 1:
            yield group[0]
        else:
            yield {k: np.stack([g[k] for g in group]) for k in group[0]}


def padded_chunks(
    arrays: Mapping[str, np.ndarray], batch_size: int
) -> Iterator[dict[str, np.ndarray]]:
    """The whole of ``arrays`` in order, in chunks of exactly ``batch_size`` (one compile).

    Each chunk carries a 0/1 ``"weight"``; the last one is padded with copies of
    its first example, weighted 0.
    """
    n = len(next(iter(arrays.values())))
    for start in range(0, n, batch_size):
        chunk = {k: v[start : start + batch_size] for k, v in arrays.items()}
        m = len(next(iter(chunk.values())))
        weight = np.zeros(batch_size, np.float32)
        weight[:m] = 1.0
        if m < batch_size:
            chunk = {
                k: np.concatenate([v, np.repeat(v[:1], batch_size - m, 0)])
                for k, v in chunk.items()
            }
        yield {**chunk, "weight": weight}


def in_chunks(fn: Callable[[Any], Any], inputs: Any, size: int) -> Any:
    """``fn`` on consecutive chunks of ``size`` rows of ``inputs`` (an array, or a dict or
    tuple of arrays with one row per example), its outputs (an array or a tuple of them)
    concatenated on the host: inference over a split without holding it on the device."""
    n = len(jax.tree.leaves(inputs)[0])
    outs = [fn(jax.tree.map(lambda v, i=i: v[i : i + size], inputs)) for i in range(0, n, size)]
    return jax.tree.map(lambda *parts: np.concatenate([np.asarray(p) for p in parts]), *outs)


def in_keyed_chunks(
    fn: Callable[[Any, jax.Array | None], Any], inputs: Any, size: int, key: jax.Array | None
) -> Any:
    """:func:`in_chunks` for draws: ``fn(chunk, chunk_key)`` with the ``i``-th of
    ``jax.random.split(key, chunks)`` for the ``i``-th chunk (``None`` for each without a
    ``key``), so a seed fixes every chunk's draws."""
    n = len(jax.tree.leaves(inputs)[0])
    chunks = -(-n // size)
    keys = iter([None] * chunks if key is None else jax.random.split(key, chunks))
    return in_chunks(lambda part: fn(part, next(keys)), inputs, size)
