"""The Jinja environment: our templates plus govuk-frontend-jinja's macros, and the filters that
turn caseload values into plain English."""

from __future__ import annotations

import threading
from typing import Any

from jinja2 import (
    ChainableUndefined,
    ChoiceLoader,
    Environment,
    PackageLoader,
    PrefixLoader,
    Undefined,
)
from jinja2.runtime import Macro
from markupsafe import Markup

from mappings.model import CaseStatus
from portal_extensions.casework.wording import WRITE_TEXT, council_date, council_time

STATUS_TEXT = {
    CaseStatus.DRAFT: ("Draft", "govuk-tag--grey"),
    CaseStatus.QUEUED: ("Queued", "govuk-tag--grey"),
    CaseStatus.OPEN: ("Open", "govuk-tag--blue"),
    CaseStatus.WITH_SERVICE: ("With service", "govuk-tag--yellow"),
    CaseStatus.RESPONDED: ("Service replied", "govuk-tag--turquoise"),
    CaseStatus.CLOSED: ("Closed", "govuk-tag--green"),
    CaseStatus.REOPENED: ("Reopened", "govuk-tag--blue"),
}


def _status(row: Any) -> tuple[str, str]:
    if getattr(row, "queued", False):
        return ("Waiting for the CRM", "govuk-tag--grey")
    if row.status == CaseStatus.QUEUED and getattr(row, "crm_reference", None):
        # Confirmed by the CRM; the next sync brings the CRM's own status.
        return ("Recorded in the CRM", "govuk-tag--blue")
    return STATUS_TEXT.get(CaseStatus(row.status), ("Unknown", "govuk-tag--grey"))


class _Unkeyable(Exception):
    """A macro parameter the memo cannot use as a key: the call is rendered, not memoised."""


def _key(value: Any) -> Any:
    if isinstance(value, Markup):
        return ("markup", str(value))
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Undefined):
        return ("undefined",)
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _key(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("list", tuple(_key(item) for item in value))
    raise _Unkeyable


class MacroMemo:
    """Renders a govuk-frontend-jinja macro once per distinct set of parameters.

    Those macros are most of a page's rendering time (a tag per list row, the case page's
    buttons, selects and radios), yet their output depends on their parameters alone. Only
    calls that hold no personal data are wrapped (`memo(govukTag, {...})` in the templates):
    never free text a person typed or a constituent's details. Bounded: when full, it starts
    again empty.
    """

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._rendered: dict[tuple[str, Any], str] = {}
        self._lock = threading.Lock()

    def __call__(self, macro: Macro, params: dict[str, Any]) -> str:
        # With autoescape on, a macro returns Markup, kept as it is (not escaped again).
        try:
            key = (macro.name, _key(params))
        except _Unkeyable:
            return macro(params)
        hit = self._rendered.get(key)
        if hit is None:
            hit = macro(params)
            with self._lock:
                if len(self._rendered) >= self.size:
                    self._rendered.clear()
                self._rendered[key] = hit
        return hit


def make_environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("portal_extensions.web", "templates"),
                PrefixLoader(
                    {"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja", "templates")}
                ),
            ]
        ),
        autoescape=True,
        undefined=ChainableUndefined,  # the govuk macros read optional nested parameters
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["council_date"] = council_date
    env.filters["council_time"] = council_time
    env.filters["write_text"] = lambda kind: WRITE_TEXT.get(kind, "Change")
    env.filters["status_text"] = lambda row: _status(row)[0]
    env.filters["status_class"] = lambda row: _status(row)[1]
    env.globals["memo"] = MacroMemo()
    return env
