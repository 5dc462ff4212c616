"""Text for character-level models: a vocabulary, file reading, training windows."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_jax.errors import UserError


class TextError(UserError, ValueError):
    """Text that cannot be used as asked (missing file, not UTF-8, unknown characters)."""


@dataclass(frozen=True)
class Vocab:
    """The sorted distinct characters of a text; ids are positions in ``chars``."""

    chars: str

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Characters -> int32 ids. Raises ``ValueError`` naming unknown characters."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise TextError(f"characters {unknown} are not in the vocabulary {self.chars!r}")
        return np.array([index[c] for c in text], np.int32)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def read_text(path: str | Path) -> str:
    """A UTF-8 text file. Raises ``ValueError`` for a missing, empty or non-UTF-8 file."""
    path = Path(path)
    if not path.is_file():
        raise TextError(f"text file {path} does not exist")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise TextError(f"{path} is not UTF-8 text ({err})") from None
    if not content:
        raise TextError(f"text file {path} is empty")
    return content


def char_windows(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``n`` ids and its next-character targets:
    ``x[i] = ids[i : i+n]``, ``y[i] = ids[i+1 : i+n+1]``.

    Raises:
      ValueError: if the text is not longer than ``n``.
    """
    if n < 1 or len(ids) <= n:
        raise TextError(f"text of {len(ids)} characters is too short for windows of {n} + 1")
    idx = np.arange(len(ids) - n)[:, None] + np.arange(n)[None, :]
    return ids[idx], ids[idx + 1]
