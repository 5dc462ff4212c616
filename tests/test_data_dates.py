"""rnn_jax.data.dates: every format reads back to its date; dates keep to their years."""

import datetime as dt

import numpy as np
import pytest

from rnn_jax.data import dates
from rnn_jax.errors import ConfigError


def test_every_format_parses_back_to_its_date():
    rng = np.random.default_rng(0)
    days = dates.dates_in((1900, 2049), 300, rng) + [dt.date(2000, 2, 29), dt.date(1911, 12, 13)]
    for d in days:
        for fmt in dates.FORMATS:
            text = dates.render(d, fmt)
            assert dates.parse(text, fmt) == d, (text, fmt)
            assert set(text) <= set(dates.ALPHABET)
    assert dates.render(dt.date(2019, 4, 22), "weekday ordinal of month year") == (
        "Monday 22nd of April 2019"
    )
    assert [dates._ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st",
    ]  # fmt: skip


def test_dates_keep_to_their_years_and_corpora_are_fixed_per_seed():
    rng = np.random.default_rng(1)
    picked = dates.dates_in((1990, 2000), 2000, rng, exclude=range(1995, 2000))
    years = {d.year for d in picked}
    assert years <= set(range(1990, 1995)) | {2000} and len(years) == 6
    a = dates.corpus(picked[:50], np.random.default_rng(2))
    b = dates.corpus(picked[:50], np.random.default_rng(2))
    assert a.texts == b.texts and a.isos == [d.isoformat() for d in picked[:50]]
    assert len(set(a.formats.tolist())) > 5
    with pytest.raises(ConfigError, match="no dates left"):
        dates.dates_in((1995, 1996), 1, rng, exclude=range(1990, 2000))
