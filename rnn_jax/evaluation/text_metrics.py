"""Sequence metrics: exact match, edit-distance error rates, BLEU-4.

Edit distance is rapidfuzz's Levenshtein distance (on strings or on lists of
tokens); BLEU is sacrebleu's corpus BLEU, the implementation whose scores
papers compare.
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sacrebleu
from rapidfuzz.distance import Levenshtein


def exact_match(hyps: Sequence[Sequence], refs: Sequence[Sequence]) -> float:
    """The fraction of hypotheses equal to their reference."""
    _check(hyps, refs)
    return sum(list(h) == list(r) for h, r in zip(hyps, refs)) / len(refs)


def edit_distance(hyp: Sequence, ref: Sequence) -> int:
    """Insertions, deletions and substitutions that turn ``hyp`` into ``ref``."""
    return Levenshtein.distance(list(hyp), list(ref))


def error_rate(hyps: Sequence[Sequence], refs: Sequence[Sequence]) -> float:
    """Total edit distance over total reference length: the character error rate of
    label sequences, the word error rate of word lists."""
    _check(hyps, refs)
    total = sum(len(r) for r in refs)
    if total == 0:
        raise ValueError("the references are all empty; an error rate needs some tokens")
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / total


def sequence_scores(hyps: Sequence[Sequence], refs: Sequence[Sequence]) -> dict[str, float]:
    """How many pairs, the fraction read exactly, and the character error rate."""
    return {"n": len(refs), "seq_accuracy": exact_match(hyps, refs), "cer": error_rate(hyps, refs)}


def bleu4(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100) of sentences against one reference each."""
    _check(hyps, refs)
    return float(sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score)


def grouped(
    score: Callable[[list, list], Any], hyps: Sequence, refs: Sequence, groups: Sequence[int]
) -> dict[int, Any]:
    """``score(hyps, refs)`` of each group's pairs (e.g. strings of one length), keyed by
    the group; ``groups[i]`` is pair ``i``'s."""
    _check(hyps, refs)
    groups = np.asarray(groups)[: len(refs)]
    return {
        int(g): score(
            [h for h, k in zip(hyps, groups) if k == g], [r for r, k in zip(refs, groups) if k == g]
        )
        for g in np.unique(groups)
    }


def _check(hyps: Sequence, refs: Sequence) -> None:
    if len(hyps) != len(refs) or not refs:
        raise ValueError(
            f"need as many hypotheses as references, at least one: {len(hyps)} vs {len(refs)}"
        )
