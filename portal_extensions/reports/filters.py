"""What a person may ask a report for: a period and filters (ward, councillor, service,
category, how it came in, who raised it), read from a form, a query string or the CLI.

Bad input is refused with a message beside each field, in words the person can act on, and
nothing is computed; a value that names nothing in the directory is refused the same way
rather than quietly giving an empty report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from mappings.model import Channel, RaisedBy
from portal_extensions.reports.figures import CHANNEL_NAMES, RAISED_BY_NAMES
from portal_extensions.store.directory import Choice
from portal_extensions.store.reports import ReportQuery

#: The longest period one report covers: enough for five years of trend.
LONGEST_PERIOD = timedelta(days=5 * 366)
FILTER_FIELDS = ("ward", "member", "service", "category", "channel", "raised_by")


class FilterError(ValueError):
    """The period or a filter is not usable: `errors` says what, by field name."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True, slots=True)
class FilterChoices:
    """The values each filter offers (the directory's, and the fixed lists)."""

    wards: Sequence[Choice] = ()
    members: Sequence[Choice] = ()
    services: Sequence[Choice] = ()
    categories: Sequence[Choice] = ()
    channels: Sequence[Choice] = field(
        default_factory=lambda: tuple(Choice(c.value, CHANNEL_NAMES[c]) for c in Channel)
    )
    raised_by: Sequence[Choice] = field(
        default_factory=lambda: tuple(Choice(r.value, RAISED_BY_NAMES[r]) for r in RaisedBy)
    )

    def of(self, name: str) -> Sequence[Choice]:
        return {
            "ward": self.wards,
            "member": self.members,
            "service": self.services,
            "category": self.categories,
            "channel": self.channels,
            "raised_by": self.raised_by,
        }[name]


def default_period(today: date) -> tuple[date, date]:
    """The Reports page's period unless one is chosen: this month and the eleven before it."""
    month = today.month - 11
    year = today.year
    if month < 1:
        month += 12
        year -= 1
    return date(year, month, 1), today


def last_complete_half_year(today: date) -> tuple[date, date]:
    """The last complete half of a council's financial year (April to September, October to
    March) before `today`: the scrutiny report's default period."""
    if today.month >= 10:
        return date(today.year, 4, 1), date(today.year, 9, 30)
    if today.month >= 4:
        return date(today.year - 1, 10, 1), date(today.year, 3, 31)
    return date(today.year - 1, 4, 1), date(today.year - 1, 9, 30)


def _day(raw: str | None, name: str, errors: dict[str, str]) -> date | None:
    if raw is None or not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        errors[name] = "Enter a real date as year-month-day, for example 2026-04-01"
        return None


def build_query(
    values: Mapping[str, str | None],
    *,
    today: date,
    choices: FilterChoices,
    default: tuple[date, date],
) -> ReportQuery:
    """The report asked for by `values` (`from`, `to` and the filter fields; blank: all).

    Raises `FilterError` naming each field that is wrong."""
    errors: dict[str, str] = {}
    start = _day(values.get("from"), "from", errors) or default[0]
    end = _day(values.get("to"), "to", errors) or default[1]
    if not errors:
        if end < start:
            errors["to"] = "The end of the period must be on or after its start"
        elif end - start > LONGEST_PERIOD:
            errors["to"] = "Choose a period of at most five years"
        elif start > today:
            errors["from"] = "The period must start today or earlier"
    chosen: dict[str, str | None] = {}
    for name in FILTER_FIELDS:
        raw = (values.get(name) or "").strip()
        if not raw:
            chosen[name] = None
        elif raw in {choice.value for choice in choices.of(name)}:
            chosen[name] = raw
        else:
            errors[name] = "Choose one of the listed values, or leave it as 'All'"
    if errors:
        raise FilterError(errors)
    return ReportQuery(
        start=start,
        end=end,
        as_of=min(end, today),
        ward_id=chosen["ward"],
        member_id=chosen["member"],
        service_id=chosen["service"],
        category=chosen["category"],
        channel=chosen["channel"],
        raised_by=chosen["raised_by"],
    )


__all__ = [
    "FILTER_FIELDS",
    "FilterChoices",
    "FilterError",
    "build_query",
    "default_period",
    "last_complete_half_year",
]
