"""FL case searches as the published contract has them, and what a search answer proves.

The published `FWTCaseSearch` filters by creation time (`CreatedAfter`/`CreatedBefore`), status
(open, closed, all), title, category, party and priority, and takes a `ResultsLimit`; it has no
paging, no total count and no modification time. Servers cap answers at their own maximum,
whatever `ResultsLimit` asks. So:

- `CaseSearch` builds the request from the pinned WSDL's element list, in schema order, and
  refuses any element the server has not been found to support (`LATER_BUILD` fields only after
  `detect_modified_filter` has shown them applied).
- `ResultCap` knows how large an answer can be before it may have been cut: configured
  (`crm.search_result_cap`), proven by a probe, or at least as large as the largest answer seen.
- `read_windows` reads a time range in windows, halving any window whose answer may have been
  cut, and raises `SearchCapExceeded` - without yielding that window - when a one-second window
  is still full: nothing narrower can be asked, so the read cannot be proven complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree

from connector.errors import CRMError
from connector.lagan.envelope import FL, element, iso
from connector.lagan.faults import KIND

log = logging.getLogger("connector.lagan")

#: Optional `FWTCaseSearch` fields some later FL builds add (after the published ones).
LATER_BUILD = ("LastModifiedDateFrom", "LastModifiedDateTo")
#: The oldest creation time a read starts from, and the narrowest window FL can be asked for
#: (it compares times to the second).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_WINDOW = timedelta(seconds=1)


class SearchCapExceeded(CRMError):
    """A one-second window's answer may have been cut at the server's result cap.

    FL has nothing narrower to ask for, so those cases cannot be proven read; the read stops
    here, before this window, and the caller must not claim it complete.
    """

    default_advice = (
        "Raise the FL server's maximum search results, or set crm.search_result_cap to the "
        "server's real maximum if it is larger than the largest answer seen."
    )


class CaseSearch:
    """`FWTCaseSearch` elements in schema order: the published ones, plus the later-build ones
    only when the server has been found to apply them.

    Built from the pinned WSDL's type (zeep's), which also says which elements are
    namespace-qualified (global element refs such as `CaseReference`, FWTObjectID's children).
    """

    def __init__(self, search_type: Any) -> None:
        self._elements: dict[str, Any] = dict(search_type.elements)
        self.published = tuple(self._elements)
        self.modified_filter = False

    @property
    def fields(self) -> tuple[str, ...]:
        return self.published + (LATER_BUILD if self.modified_filter else ())

    def build(self, criteria: Mapping[str, Any], *, extensions: bool = False) -> etree._Element:
        """The FWTCaseSearch element; a name outside the contract is a programming error."""
        allowed = self.published + LATER_BUILD if extensions else self.fields
        unknown = sorted(set(criteria) - set(allowed))
        if unknown:
            raise ValueError(f"FWTCaseSearch has no element {', '.join(unknown)} on this server")
        search = element("FWTCaseSearch", ns=FL)
        for name in allowed:
            value = criteria.get(name)
            if value is None:
                continue
            declared = self._elements.get(name)
            child = element(name, ns=_namespace(declared))
            if isinstance(value, Mapping):
                parts = dict(getattr(declared.type, "elements", None) or []) if declared else {}
                unknown_parts = sorted(set(value) - set(parts))
                if unknown_parts:
                    raise ValueError(f"{name} has no element {', '.join(unknown_parts)}")
                for key, part in parts.items():
                    if value.get(key) is not None:
                        child.append(element(key, str(value[key]), ns=_namespace(part)))
            elif isinstance(value, datetime):
                child.text = iso(value)
            else:
                child.text = str(value)
            search.append(child)
        return search


def _namespace(declared: Any) -> str | None:
    """The namespace a declared (zeep) element is written in; None when unqualified."""
    qname = getattr(declared, "qname", None)
    namespace = getattr(qname, "namespace", None)
    return str(namespace) if namespace else None


@dataclass
class ResultCap:
    """How many results an answer may hold before it may have been cut by the server.

    `configured` is the administrator's `crm.search_result_cap`; `proven` a cap a probe showed
    (a window that held more than an answer the server gave for a wider one); `floor` the
    largest answer seen, which the cap is at least. An answer is proven complete only when it
    is smaller than what the server has been shown to give.
    """

    configured: int | None = None
    proven: int | None = None
    floor: int = 0

    @property
    def limit(self) -> int | None:
        """The cap known or assumed; None when only a floor is known."""
        caps = [c for c in (self.configured, self.proven) if c is not None]
        return min(caps) if caps else None

    def seen(self, count: int, asked: int) -> None:
        """Record an answer of `count` results to a request for `asked`."""
        self.floor = max(self.floor, count)
        if self.proven is not None and count > self.proven:
            self.proven = None  # the server gave more: that was not its cap after all
        if self.configured is not None and count > self.configured:
            log.warning(
                "crm lagan: the server returned %d results, more than crm.search_result_cap "
                "(%d); the setting is ignored",
                count,
                self.configured,
            )
            self.configured = None

    def may_be_cut(self, count: int, asked: int) -> bool:
        """Whether an answer of `count` to a request for `asked` may be missing cases."""
        if count == 0:
            return False
        if count >= asked:
            return True
        limit = self.limit
        if limit is not None:
            return count >= limit
        # The cap is at least `floor`: an answer below it cannot have been cut.
        return count >= self.floor

    def describe(self) -> str:
        if self.configured is not None and (self.proven is None or self.proven >= self.configured):
            return f"configured: {self.configured} results per search (crm.search_result_cap)"
        if self.proven is not None:
            return f"learned: the server returns at most {self.proven} results per search"
        return f"not reached: the server returned up to {self.floor} results per search"


#: Runs one search: (criteria, ResultsLimit) -> the answer's item elements.
Fetch = Callable[[dict[str, Any], int], list[etree._Element]]
#: Counts every case in the CRM up to a ResultsLimit (a brief search with no criteria).
Recount = Callable[[int], int]


@dataclass
class Window:
    """One time window whose answer is proven complete."""

    start: datetime
    end: datetime
    items: list[etree._Element]


def read_windows(
    fetch: Fetch,
    criteria: Mapping[str, Any],
    *,
    start: datetime,
    end: datetime,
    fields: tuple[str, str],
    asked: int,
    cap: ResultCap,
    recount: Recount,
    first_span: timedelta | None = None,
) -> Iterator[Window]:
    """Windows of [start, end), oldest first, each with every case the search finds in it.

    `fields` names the from/to criteria (CreatedAfter/CreatedBefore, or the later-build
    LastModifiedDateFrom/To); both bounds are inclusive in FL, so a window [a, b) asks for
    a .. b minus a microsecond. Windows start at `first_span` (the whole range if None) and
    adapt to the density of cases, aiming at about 70% of `asked`.

    A one-second window whose answer is as large as any the server has given is settled by
    `recount`: if the whole CRM answers with more, the cap is larger and the window complete;
    if not, either the cap cut it or the whole CRM is in that second - which cannot be told
    apart, so `SearchCapExceeded` is raised.
    """
    low, high = fields
    span = first_span or (end - start)
    while start < end:
        # Whole-second boundaries: FL compares times to the second, so a fractional boundary
        # would put the cases of that second in two windows.
        window_end = (start + span).replace(microsecond=0)
        if window_end <= start:
            window_end = start.replace(microsecond=0) + MIN_WINDOW
        window_end = min(end, window_end)
        width = window_end - start
        query = {**criteria, low: start, high: window_end - timedelta(microseconds=1)}
        items = fetch(query, asked)
        count = len(items)
        cap.seen(count, asked)
        if cap.may_be_cut(count, asked) and width > MIN_WINDOW:
            items = []  # dropped now, not held through the narrower window's fetch
            span = max(width / 2, MIN_WINDOW)
            continue
        if cap.may_be_cut(count, asked) and count < asked:
            cap.seen(recount(count + 1), count + 1)
        if cap.may_be_cut(count, asked):
            raise SearchCapExceeded(
                f"{count} cases in the one-second window from {iso(start)} "
                f"({cap.describe()}): more may exist that no search can reach",
                crm=KIND,
                operation="searchAndRetrieveCaseDetails",
            )
        yield Window(start, window_end, items)
        items = []  # the reader has taken them: not kept alive through the next fetch
        start = window_end
        # Aim the next window at about 70% of a page, growing at most fourfold at a time.
        span = width * min(4.0, (0.7 * asked) / max(count, 1))
        span = max(span, MIN_WINDOW)


def learn_cap(
    count_briefs: Callable[[dict[str, Any], int], list[datetime]],
    cap: ResultCap,
    asked: int,
    now: datetime,
) -> None:
    """Probe the server's cap with cheap brief searches (searchForCases).

    Ask for every case: an answer of `asked` shows the cap is at least that. A shorter answer of
    n cases is either every case in the CRM or a cut answer. Splitting the CRM at the middle of
    the cases' creation times tells which: if the two halves hold more than n between them, the
    first answer was cut and n is the cap; if they hold exactly n, the CRM had n cases.
    """
    opened = count_briefs({}, asked)
    cap.seen(len(opened), asked)
    if len(opened) >= asked or len(opened) < 2:
        return
    seconds = sorted({moment.replace(microsecond=0) for moment in opened})
    if len(seconds) < 2:
        return  # every case in one second: nothing to split by time
    middle = seconds[len(seconds) // 2]
    before = count_briefs({"CreatedBefore": middle - timedelta(microseconds=1)}, asked)
    after = count_briefs({"CreatedAfter": middle, "CreatedBefore": now + timedelta(days=1)}, asked)
    if len(before) + len(after) > len(opened):
        cap.proven = len(opened)
        log.info("crm lagan: the server caps search results at %d", len(opened))


__all__ = [
    "EPOCH",
    "LATER_BUILD",
    "MIN_WINDOW",
    "CaseSearch",
    "ResultCap",
    "SearchCapExceeded",
    "Window",
    "learn_cap",
    "read_windows",
]
