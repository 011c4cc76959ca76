"""Reading the pages' HTML forms where they differ from the JSON API's bodies."""

from __future__ import annotations

from datetime import date

REAL_DATE = "The end date must be a real date, like 27 3 2027"


def parse_day(day: str, month: str, year: str) -> tuple[date | None, str | None]:
    """A date from the three boxes of a GOV.UK date input: (date, None), (None, None) when all
    are empty, or (None, message) when it is not a real date."""
    parts = [day.strip(), month.strip(), year.strip()]
    if not any(parts):
        return None, None
    if not all(part.isdigit() for part in parts):
        return None, REAL_DATE
    try:
        return date(int(parts[2]), int(parts[1]), int(parts[0])), None
    except ValueError:
        return None, REAL_DATE


def day_values(value: date | None) -> dict[str, str]:
    """The three boxes of the cover end date's GOV.UK date input, filled with `value`."""
    if value is None:
        return {"cover_until_day": "", "cover_until_month": "", "cover_until_year": ""}
    return {
        "cover_until_day": str(value.day),
        "cover_until_month": str(value.month),
        "cover_until_year": str(value.year),
    }


__all__ = ["day_values", "parse_day"]
