"""Counting working days: Monday to Friday, skipping the UK bank holidays of the council's nation
(England by default; Wales, Scotland and Northern Ireland have holidays of their own).

A service that answers "within 10 working days" of a request sent on a Friday afternoon is due
ten working days after that Friday, never on a weekend or a bank holiday.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Final, Literal

import holidays

Nation = Literal["england", "wales", "scotland", "northern_ireland"]
_SUBDIVISION: Final[dict[str, str]] = {
    "england": "ENG",
    "wales": "WLS",
    "scotland": "SCT",
    "northern_ireland": "NIR",
}


@lru_cache(maxsize=64)
def bank_holidays(nation: Nation, year: int) -> frozenset[date]:
    """The bank holidays (including substitute days) of one nation in one year."""
    calendar = holidays.country_holidays("GB", subdiv=_SUBDIVISION[nation], years=year)
    return frozenset(calendar)


def is_working_day(day: date, nation: Nation = "england") -> bool:
    return day.weekday() < 5 and day not in bank_holidays(nation, day.year)


def add_working_days(start: date, count: int, nation: Nation = "england") -> date:
    """The day `count` working days after `start` (the start day itself does not count)."""
    if count < 0:
        raise ValueError("a response target cannot be a negative number of working days")
    day = start
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day, nation):
            remaining -= 1
    return day


@lru_cache(maxsize=256)
def _working_days_before(nation: Nation, year: int) -> tuple[int, ...]:
    """For each day of `year` (by day of year, from 1), the working days of that year before
    it; the last entry is the year's total."""
    first = date(year, 1, 1)
    days = (date(year + 1, 1, 1) - first).days
    counts = [0]
    for offset in range(days):
        counts.append(counts[-1] + is_working_day(first + timedelta(days=offset), nation))
    return tuple(counts)


def working_days_between(start: date, end: date, nation: Nation = "england") -> int:
    """How many working days after `start`, up to and including `end` (the count
    `add_working_days` adds: a service answering on the day it was asked took 0 working days,
    one sent on a Friday and answered on Monday took 1). `end` before `start` is refused."""
    if end < start:
        raise ValueError(f"{end} is before {start}: working days are counted forwards")
    # Reports count tens of thousands of these: day-of-year arithmetic on ordinals, and a
    # table per year, keep each to a few look-ups.
    first = _working_days_before(nation, start.year)
    start_day = start.toordinal() - _new_year(start.year)
    if start.year == end.year:
        return first[end.toordinal() - _new_year(end.year) + 1] - first[start_day + 1]
    total = first[-1] - first[start_day + 1]
    for year in range(start.year + 1, end.year):
        total += _working_days_before(nation, year)[-1]
    return total + _working_days_before(nation, end.year)[end.toordinal() - _new_year(end.year) + 1]


@lru_cache(maxsize=256)
def _new_year(year: int) -> int:
    return date(year, 1, 1).toordinal()


__all__ = [
    "Nation",
    "add_working_days",
    "bank_holidays",
    "is_working_day",
    "working_days_between",
]
