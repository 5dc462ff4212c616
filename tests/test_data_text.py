"""Vocabulary, text files and character windows."""

import numpy as np
import pytest

from rnn_jax.data import text


def test_vocab_round_trip_and_unknown_characters():
    vocab = text.Vocab.from_text("hihello")
    assert vocab.chars == "ehilo" and len(vocab) == 5
    ids = vocab.encode("hello")
    assert ids.dtype == np.int32 and vocab.decode(ids) == "hello"
    with pytest.raises(ValueError, match=r"characters \['z'\] are not in the vocabulary"):
        vocab.encode("zoo")


def test_char_windows_follow_the_definition():
    ids = np.arange(15)
    x, y = text.char_windows(ids, 10)
    assert x.shape == y.shape == (5, 10)
    for i in range(5):
        np.testing.assert_array_equal(x[i], ids[i : i + 10])
        np.testing.assert_array_equal(y[i], ids[i + 1 : i + 11])
    with pytest.raises(ValueError, match="too short for windows of 15"):
        text.char_windows(ids, 15)


def test_read_text_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        text.read_text(tmp_path / "none.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        text.read_text(tmp_path / "empty.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(ValueError, match="not UTF-8"):
        text.read_text(tmp_path / "bin.txt")
    (tmp_path / "ok.txt").write_text("héllo\n")
    assert text.read_text(tmp_path / "ok.txt") == "héllo\n"
