"""Dates written in many human formats, and their ISO form: a small translation corpus.

"April 22, 2019", "22/04/2019", "Monday 22nd of April 2019", ... -> "2019-04-22".
Each split draws its dates from its own years (the test years are disjoint from
the training ones) and a format for each date, fixed by the seed.
"""

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnn_jax.errors import ConfigError

MONTHS = (
    "January February March April May June July August September October November December"
).split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
# Every character the formats write: names in title and upper case, the formats' words
# and ordinal suffixes, digits and separators.
ALPHABET = "".join(
    sorted(set("".join(MONTHS + DAYS) + "".join(MONTHS).upper() + "the of stndrd0123456789 ,-./"))
)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# name -> (render, the strptime pattern that reads it back, after ordinals lose their suffix)
FORMATS: dict[str, tuple[Callable[[dt.date], str], str]] = {
    "month day, year": (lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}", "%B %d, %Y"),
    "dd/mm/yyyy": (lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}", "%d/%m/%Y"),
    "weekday ordinal of month year": (
        lambda d: f"{DAYS[d.weekday()]} {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
        "%A %d of %B %Y",
    ),
    "d mon yyyy": (lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}", "%d %b %Y"),
    "mm-dd-yyyy": (lambda d: f"{d.month:02d}-{d.day:02d}-{d.year}", "%m-%d-%Y"),
    "dd.mm.yyyy": (lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}", "%d.%m.%Y"),
    "weekday, month day, year": (
        lambda d: f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
        "%A, %B %d, %Y",
    ),
    "DAY MONTH YEAR": (lambda d: f"{d.day} {MONTHS[d.month - 1].upper()} {d.year}", "%d %B %Y"),
    "the ordinal of month, year": (
        lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}",
        "the %d of %B, %Y",
    ),
}


def render(date: dt.date, fmt: str) -> str:
    """``date`` written in the format named ``fmt`` (one of :data:`FORMATS`)."""
    return FORMATS[fmt][0](date)


def parse(text: str, fmt: str) -> dt.date:
    """Read ``text`` written in ``fmt`` back with :func:`datetime.strptime` (English
    names, any case; ordinal suffixes removed first): an implementation independent of
    :func:`render`."""
    plain = re.sub(r"\b(\d{1,2})(st|nd|rd|th)\b", r"\1", text)
    return dt.datetime.strptime(plain, FORMATS[fmt][1]).date()


@dataclass(frozen=True)
class Dates:
    """Dates in human formats and their ISO forms.

    Attributes:
      texts: the human-written dates.
      isos: the same dates as ``YYYY-MM-DD``.
      formats: index into :data:`FORMATS` per date.
    """

    texts: list[str]
    isos: list[str]
    formats: np.ndarray


def dates_in(years: tuple[int, int], n: int, rng: np.random.Generator, exclude=()) -> list[dt.date]:
    """``n`` dates uniform over the days of ``years`` (inclusive), none in a year of
    ``exclude``."""
    first, last = dt.date(years[0], 1, 1).toordinal(), dt.date(years[1], 12, 31).toordinal()
    days = [d for d in range(first, last + 1) if dt.date.fromordinal(d).year not in exclude]
    if not days:
        raise ConfigError(f"no dates left in the years {years[0]}-{years[1]}")
    return [dt.date.fromordinal(int(d)) for d in rng.choice(days, n)]


def corpus(dates: list[dt.date], rng: np.random.Generator) -> Dates:
    """Each date in a random format."""
    names = list(FORMATS)
    formats = rng.integers(0, len(names), len(dates)).astype(np.int32)
    texts = [render(d, names[f]) for d, f in zip(dates, formats)]
    return Dates(texts, [d.isoformat() for d in dates], formats)
