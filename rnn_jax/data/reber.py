"""Embedded Reber strings (Hochreiter & Schmidhuber 1997), their near-misses, and the
legal next symbols after every prefix.

A Reber string is a walk through a small automaton from ``B`` to ``E``
(``BTXSE``, ``BPVPXVVE``, ...). An embedded Reber string wraps one in ``B T ...
T E`` or ``B P ... P E``: the second symbol must be repeated just before the
end, across the whole inner string, which is what makes it a test of long-term
memory. Strings of a given inner length are drawn uniformly among all strings
of that length (counting completions through the automaton), so length is a
setting rather than an accident of the walk.
"""

from dataclasses import dataclass
from functools import cache

import numpy as np

from rnn_jax.errors import ConfigError

SYMBOLS = "BTSXPVE"
INDEX = {s: i for i, s in enumerate(SYMBOLS)}
MIN_INNER = 5  # BTXSE and BPVVE are the shortest Reber strings

# The Reber automaton: state -> {symbol: next state}; None accepts.
REBER: dict[int, dict[str, int | None]] = {
    0: {"B": 1},
    1: {"T": 2, "P": 3},
    2: {"S": 2, "X": 4},
    3: {"T": 3, "V": 5},
    4: {"X": 3, "S": 6},
    5: {"P": 4, "V": 6},
    6: {"E": None},
}


def _ways(counts: tuple[dict[int, int], ...], nxt: int | None, left: int) -> int:
    """Strings of ``left`` symbols (this move's included) that end in acceptance."""
    return int(left == 1) if nxt is None else counts[left - 1][nxt]


@cache
def _completions(length: int) -> tuple[dict[int, int], ...]:
    """``counts[k][state]``: the symbol strings of length ``k`` that take ``state`` to
    acceptance."""
    counts: list[dict[int, int]] = [{s: 0 for s in REBER}]
    for k in range(1, length + 1):
        counts.append({s: sum(_ways(counts, n, k) for n in t.values()) for s, t in REBER.items()})
    return tuple(counts)


def reber(length: int, rng: np.random.Generator) -> str:
    """A Reber string of exactly ``length`` symbols, uniform among all such strings."""
    if length < MIN_INNER:
        raise ConfigError(f"Reber strings have at least {MIN_INNER} symbols, asked for {length}")
    counts = _completions(length)
    out, state = [], 0
    for left in range(length, 0, -1):
        moves = list(REBER[state].items())
        weights = np.array([_ways(counts, nxt, left) for _, nxt in moves], np.float64)
        symbol, state = moves[rng.choice(len(moves), p=weights / weights.sum())]
        out.append(symbol)
    return "".join(out)


def embedded(inner_length: int, rng: np.random.Generator) -> str:
    """An embedded Reber string around an inner string of ``inner_length`` symbols."""
    branch = "TP"[rng.integers(2)]
    return f"B{branch}{reber(inner_length, rng)}{branch}E"


def _walk(string: str) -> list[set[str]] | None:
    """The legal next symbols after each prefix of ``string`` (the last: after the whole
    string), or None if the string leaves the embedded grammar."""
    legal: list[set[str]] = []
    # Outer states: 0 start, 1 after B, 2 inside (with the branch), 3 after the inner E,
    # 4 after the repeated branch, 5 accepted.
    outer, branch, inner = 0, "", 0
    for symbol in string:
        if outer == 0:
            ok, outer = symbol == "B", 1
        elif outer == 1:
            ok, outer, branch, inner = symbol in "TP", 2, symbol, 0
        elif outer == 2:
            ok = symbol in REBER[inner]
            nxt = REBER[inner].get(symbol, 0)
            outer, inner = (3, 0) if ok and nxt is None else (2, nxt)
        elif outer == 3:
            ok, outer = symbol == branch, 4
        elif outer == 4:
            ok, outer = symbol == "E", 5
        else:
            ok = False
        if not ok:
            return None
        nexts = {0: {"B"}, 1: {"T", "P"}, 2: set(REBER[inner]), 3: {branch}, 4: {"E"}, 5: set()}
        legal.append(nexts[outer])
    return legal


def accepts(string: str) -> bool:
    """Whether ``string`` is an embedded Reber string."""
    legal = _walk(string)
    return legal is not None and legal[-1] == set()


def legal_next(string: str) -> np.ndarray:
    """``bool [len, 7]``: after each prefix ``string[: i + 1]``, which symbols may come next
    (the last row, after ``E``, is empty). The targets of the LSTM paper's prediction task."""
    legal = _walk(string)
    if legal is None:
        raise ValueError(f"{string!r} is not an embedded Reber string")
    out = np.zeros((len(string), len(SYMBOLS)), bool)
    for i, allowed in enumerate(legal):
        out[i, [INDEX[s] for s in allowed]] = True
    return out


def long_range_miss(string: str) -> str:
    """The near-miss that only long-term memory catches: the repeated branch symbol (second
    to last) swapped, T for P or P for T."""
    return string[:-2] + {"T": "P", "P": "T"}[string[-2]] + string[-1]


def local_miss(string: str, rng: np.random.Generator) -> str:
    """A near-miss with one symbol of the inner string changed so that the string leaves
    the grammar (caught by the inner automaton, near where it happens)."""
    while True:
        i = int(rng.integers(2, len(string) - 2))
        swap = SYMBOLS[rng.integers(1, len(SYMBOLS) - 1)]  # never B or E
        miss = string[:i] + swap + string[i + 1 :]
        if not accepts(miss):
            return miss


KINDS = ("grammatical", "long_range", "local")


@dataclass(frozen=True)
class Strings:
    """Labelled strings for the grammaticality task.

    Attributes:
      strings: the symbol strings.
      kinds: index into :data:`KINDS` per string (0: grammatical).
      inner: each string's inner length.
    """

    strings: list[str]
    kinds: np.ndarray
    inner: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """1 for grammatical strings, 0 for near-misses."""
        return (self.kinds == 0).astype(np.int32)


def labelled(n: int, lengths: tuple[int, int], seed: int) -> Strings:
    """``n`` strings with inner lengths uniform in ``lengths`` (inclusive): half
    grammatical, a quarter long-range near-misses, a quarter local near-misses."""
    lo, hi = lengths
    if not MIN_INNER <= lo <= hi:
        raise ConfigError(f"inner lengths must satisfy {MIN_INNER} <= min <= max, got {lo}-{hi}")
    rng = np.random.default_rng(seed)
    inner = rng.integers(lo, hi + 1, n)
    kinds = rng.choice(3, n, p=[0.5, 0.25, 0.25])
    strings = []
    for length, kind in zip(inner, kinds):
        s = embedded(int(length), rng)
        strings.append(s if kind == 0 else long_range_miss(s) if kind == 1 else local_miss(s, rng))
    return Strings(strings, kinds.astype(np.int32), inner.astype(np.int32))


def one_hot(strings: list[str], width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(float32 [N, width, 7], int32 [N] lengths)``, zero-padded after each string."""
    if max(map(len, strings)) > width:
        raise ValueError(f"a string is longer than the {width} steps asked for")
    out = np.zeros((len(strings), width, len(SYMBOLS)), np.float32)
    for i, s in enumerate(strings):
        out[i, np.arange(len(s)), [INDEX[c] for c in s]] = 1.0
    return out, np.array([len(s) for s in strings], np.int32)


def arrays(s: Strings, width: int, task: str) -> dict[str, np.ndarray]:
    """One-hot strings ``x`` (``width`` steps), their lengths and the task's targets: the
    ``label`` (1: grammatical) to classify, or the ``legal`` next symbols after each prefix
    to predict."""
    x, length = one_hot(s.strings, width)
    out = {"x": x, "length": length}
    if task == "classify":
        out["label"] = s.labels
    else:
        legal = np.zeros_like(x)
        for i, string in enumerate(s.strings):
            legal[i, : len(string)] = legal_next(string)
        out["legal"] = legal
    return out
