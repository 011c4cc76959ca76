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


__all__ = ["Nation", "add_working_days", "bank_holidays", "is_working_day"]
