"""Reading the pages' HTML forms where they differ from the JSON API's bodies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

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
    except (ValueError, OverflowError):  # 31 2 2027, or a year of twenty digits
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


M = TypeVar("M", bound=BaseModel)


def read_form(
    model: type[M], typed: Mapping[str, Any], labels: Mapping[str, str]
) -> tuple[M, dict[str, str]]:
    """A page's answers as `model`, and the problem of each answer the model refuses (one too
    long above all), by field, worded with its label. A refused answer is left out (the
    model's default), so the rest of the form is still checked and the page can show every
    problem at once, with everything typed kept (the caller shows `typed` again, not the
    model). Never the dead-end "There is a problem with the form" page."""
    try:
        return model.model_validate(typed), {}
    except ValidationError as error:
        problems: dict[str, str] = {}
        for problem in error.errors(include_input=False, include_url=False):
            name = str(problem["loc"][0]) if problem["loc"] else ""
            label = labels.get(name, "This answer")
            max_length = (problem.get("ctx") or {}).get("max_length")
            if problem["type"] == "string_too_long" and max_length is not None:
                text = f"{label} must be {max_length} characters or fewer"
            else:
                text = f"{label} is not in the right form: check it and try again"
            problems.setdefault(name, text)
        kept = {name: value for name, value in typed.items() if name not in problems}
        return model.model_validate(kept), problems


__all__ = ["day_values", "parse_day", "read_form"]
