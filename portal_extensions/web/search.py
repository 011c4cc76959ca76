"""Search that finds a case only through what the viewer may see of it.

The index searches every text column (title, description, notes, resident's name, address), but
a service officer may not see the resident's name, and nobody sees special-category details
without explicit consent. A hit found through a hidden field would say what that field holds, so
every hit is checked again against the viewer's projection of the case (`access.project_case`)
and dropped unless every search word is found in what they can see.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from portal_extensions.access import Viewer, project_case
from portal_extensions.web.repository import StoredCase

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 12


def query_terms(text: str) -> list[str]:
    """The words of a search, lower-cased, each once, at most 12 (as the store's index)."""
    terms: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFC", text).lower()):
        if word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


SEARCHED_FIELDS = ("title", "description", "notes", "constituent", "location")


def matches_visible(viewer: Viewer, stored: StoredCase, terms: list[str], now: datetime) -> bool:
    """Every term starts some word of the searched fields this viewer may see."""
    if not terms:
        return False
    seen = project_case(viewer, stored.case, stored.facts, now)
    words = {
        word
        for name in SEARCHED_FIELDS
        for text in _texts(seen.get(name))
        for word in _WORD.findall(unicodedata.normalize("NFC", text).lower())
    }
    return all(any(word.startswith(term) for word in words) for term in terms)
