"""Sequence metrics: exact match, edit-distance error rates, BLEU-4.

Edit distance is rapidfuzz's Levenshtein distance (on strings or on lists of
tokens); BLEU is sacrebleu's corpus BLEU, the implementation whose scores
papers compare.
"""

from collections.abc import Sequence

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


def bleu4(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100) of sentences against one reference each."""
    _check(hyps, refs)
    return float(sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score)


def _check(hyps: Sequence, refs: Sequence) -> None:
    if len(hyps) != len(refs) or not refs:
        raise ValueError(
            f"need as many hypotheses as references, at least one: {len(hyps)} vs {len(refs)}"
        )
