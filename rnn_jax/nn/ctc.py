"""Connectionist temporal classification: the loss (optax's) and greedy and beam decoding.

A CTC model emits, at each of ``T`` frames, a distribution over the labels
plus a blank; a labelling's probability sums over every frame alignment that
collapses to it (merge repeats, then drop blanks), so no per-frame targets are
needed (Graves et al. 2006).
"""

from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np
import optax


def paddings(lengths: jax.Array, size: int) -> jax.Array:
    """``1.0`` where a position ``>= length`` is padding: ``[B, size]`` (optax's form)."""
    return (jnp.arange(size)[None, :] >= lengths[:, None]).astype(jnp.float32)


def loss(
    logits: jax.Array,
    logit_lengths: jax.Array,
    labels: jax.Array,
    label_lengths: jax.Array,
    blank: int = 0,
) -> jax.Array:
    """Negative log-likelihood of each labelling ``[B]`` (:func:`optax.ctc_loss`).

    ``logits [B, T, V]`` with ``logit_lengths [B]`` valid frames; ``labels [B, L]`` (int,
    never ``blank``) with ``label_lengths [B]`` valid labels.
    """
    return optax.ctc_loss(
        logits,
        paddings(logit_lengths, logits.shape[1]),
        labels,
        paddings(label_lengths, labels.shape[1]),
        blank_id=blank,
    )


def mean_loss(
    logits: jax.Array, labels: jax.Array, lengths: jax.Array, blank: int = 0
) -> jax.Array:
    """The batch's mean of each labelling's negative log-likelihood per label, every frame of
    ``logits [B, T, V]`` valid; ``labels [B, L]`` padded (with anything) beyond ``lengths``."""
    frames = jnp.full((logits.shape[0],), logits.shape[1])
    nll = loss(logits, frames, jnp.maximum(labels, 0), lengths, blank=blank)
    return jnp.mean(nll / lengths.astype(nll.dtype))


def best_path(
    logits: jax.Array, lengths: jax.Array | None = None, blank: int = 0
) -> tuple[jax.Array, jax.Array]:
    """Best path decoding, jittable: the most likely label per frame, repeats merged,
    blanks dropped. ``logits [B, T, V]`` -> ``(labels [B, T]`` left-aligned and padded
    with -1, ``counts [B])``; frames past ``lengths [B]`` are ignored."""
    best = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    prev = jnp.concatenate([jnp.full_like(best[:, :1], -1), best[:, :-1]], axis=1)
    keep = (best != blank) & (best != prev)
    if lengths is not None:
        keep &= jnp.arange(best.shape[1])[None, :] < lengths[:, None]
    slot = jnp.where(keep, jnp.cumsum(keep.astype(jnp.int32), axis=1) - 1, best.shape[1])
    rows = jnp.broadcast_to(jnp.arange(best.shape[0])[:, None], best.shape)
    labels = jnp.full_like(best, -1).at[rows, slot].set(best, mode="drop")
    return labels, jnp.sum(keep, axis=1)


def exact(logits: jax.Array, labels: jax.Array, lengths: jax.Array, blank: int = 0) -> jax.Array:
    """Whether best-path decoding of each sequence of ``logits [B, T, V]`` reads exactly
    its ``labels [B, L]`` (padded beyond ``lengths [B]``): ``bool [B]``, jittable."""
    decoded, counts = best_path(logits, blank=blank)
    return jnp.all(decoded[:, : labels.shape[1]] == labels, axis=1) & (counts == lengths)


def greedy_decode(
    logits: np.ndarray, lengths: np.ndarray | None = None, blank: int = 0
) -> list[list[int]]:
    """:func:`best_path` as one list of labels per sequence."""
    labels, counts = best_path(
        jnp.asarray(logits), None if lengths is None else jnp.asarray(lengths), blank
    )
    return [row[:n].tolist() for row, n in zip(np.asarray(labels), np.asarray(counts))]


def beam_decode(log_probs: np.ndarray, width: int, blank: int = 0) -> list[int]:
    """Prefix beam search over one sequence's ``log_probs [T, V]`` (log-softmax
    outputs): the ``width`` most likely labellings are kept, each with the probability
    of its alignments ending in a blank and in a label. Returns the most likely one."""
    beams = {(): (0.0, -np.inf)}  # prefix -> (log p ending in blank, ending in a label)
    labels = [c for c in range(log_probs.shape[1]) if c != blank]
    for lp in np.asarray(log_probs, np.float64):
        nxt = defaultdict(lambda: [-np.inf, -np.inf])
        for prefix, (pb, pl) in beams.items():
            total = np.logaddexp(pb, pl)
            stay = nxt[prefix]
            stay[0] = np.logaddexp(stay[0], total + lp[blank])
            if prefix:  # the last label repeated, with no blank between: the same prefix
                stay[1] = np.logaddexp(stay[1], pl + lp[prefix[-1]])
            for c in labels:
                grown = nxt[prefix + (c,)]
                # After the same label, a new one needs a blank in between.
                before = pb if prefix and prefix[-1] == c else total
                grown[1] = np.logaddexp(grown[1], before + lp[c])
        ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))
        beams = {prefix: tuple(p) for prefix, p in ranked[:width]}
    return list(max(beams.items(), key=lambda kv: np.logaddexp(*kv[1]))[0])


def decode(logits: np.ndarray, beam: int = 0, blank: int = 0) -> list[list[int]]:
    """Labels of each sequence of ``logits [B, T, V]``: :func:`greedy_decode`, or
    :func:`beam_decode` of width ``beam``."""
    if not beam:
        return greedy_decode(logits, blank=blank)
    log_probs = np.asarray(jax.nn.log_softmax(jnp.asarray(logits), axis=-1))
    return [beam_decode(lp, beam, blank=blank) for lp in log_probs]
