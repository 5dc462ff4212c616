"""rnn_jax.data.reber against an independent recogniser (a regular expression of the grammar)."""

import itertools
import re

import numpy as np
import pytest

from rnn_jax.data import reber
from rnn_jax.errors import ConfigError

_AFTER_P = "T*V(PXT*V)*(V|PS)"  # from the state after P to the end of the inner string
_INNER = f"B(TS*X(S|X{_AFTER_P})|P{_AFTER_P})E"
EMBEDDED = re.compile(f"BT{_INNER}TE|BP{_INNER}PE")


def test_strings_are_in_the_grammar_and_near_misses_are_not():
    rng = np.random.default_rng(0)
    for length in range(reber.MIN_INNER, 31):
        for _ in range(10):
            s = reber.embedded(length, rng)
            assert len(s) == length + 4 and EMBEDDED.fullmatch(s) and reber.accepts(s)
            for miss in (reber.long_range_miss(s), reber.local_miss(s, rng)):
                assert not EMBEDDED.fullmatch(miss) and not reber.accepts(miss)
            assert reber.long_range_miss(s)[:-2] == s[:-2]


def test_accepts_agrees_with_the_recogniser_on_random_strings():
    rng = np.random.default_rng(1)
    # Random symbol strings, and grammatical ones with a random symbol changed.
    cases = ["".join(rng.choice(list(reber.SYMBOLS), rng.integers(1, 12))) for _ in range(3000)]
    for _ in range(3000):
        s = list(reber.embedded(int(rng.integers(5, 15)), rng))
        s[rng.integers(len(s))] = reber.SYMBOLS[rng.integers(7)]
        cases.append("".join(s))
    assert any(EMBEDDED.fullmatch(c) for c in cases)  # the changed symbol was sometimes the same
    for c in cases:
        assert reber.accepts(c) == bool(EMBEDDED.fullmatch(c)), c


def test_every_string_of_a_length_can_be_drawn():
    # Length 6 has few strings: all of them turn up, and nothing else does.
    rng = np.random.default_rng(2)
    drawn = {reber.reber(6, rng) for _ in range(400)}
    everything = {
        "B" + "".join(rest) + "E"
        for rest in itertools.product("TSXPV", repeat=4)
        if re.fullmatch(_INNER, "B" + "".join(rest) + "E")
    }
    assert drawn == everything and len(everything) == reber._completions(6)[6][0]


def test_legal_next_sets_and_the_long_range_step():
    legal = reber.legal_next("BPBTXSEPE")
    as_sets = [{reber.SYMBOLS[j] for j in np.flatnonzero(row)} for row in legal]
    assert as_sets == [
        {"T", "P"},
        {"B"},
        {"T", "P"},
        {"S", "X"},
        {"X", "S"},
        {"E"},
        {"P"},
        {"E"},
        set(),
    ]
    with pytest.raises(ValueError, match="not an embedded Reber string"):
        reber.legal_next("BPBTXSETE")


def test_labelled_sets_are_balanced_and_fixed_per_seed():
    a, b = reber.labelled(400, (5, 20), seed=3), reber.labelled(400, (5, 20), seed=3)
    assert a.strings == b.strings
    assert abs(a.labels.mean() - 0.5) < 0.08
    assert all(reber.accepts(s) == (k == 0) for s, k in zip(a.strings, a.kinds))
    assert a.inner.min() >= 5 and a.inner.max() <= 20
    x, lengths = reber.one_hot(a.strings, 24)
    assert x.shape == (400, 24, 7) and (x.sum((1, 2)) == lengths).all()
    with pytest.raises(ConfigError, match="inner lengths"):
        reber.labelled(10, (3, 9), seed=0)
