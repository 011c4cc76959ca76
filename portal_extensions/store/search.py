"""Full-text search over cases: title, description, notes, constituent name and address.

One function, the same behaviour on both backends: the query is split into words, every word
must match (as a prefix, so "pot" finds "pothole"), case is ignored, accents count, and no
stemming or stop words apply (SQLite FTS5 `unicode61 remove_diacritics 0` and PostgreSQL's
`simple` configuration agree on all of that). Results are ranked by relevance, title and
constituent name weighing most, then newest first. The query text only ever reaches SQL as a
bound parameter.

The index searches every text column, but a service officer may not see the resident's name,
and nobody sees special-category details without explicit consent. A hit found through a hidden
field would say what that field holds, so every hit is checked again against the viewer's
projection of the case (`matches_visible`, over `access.project_case`) and dropped unless every
search word is found in what they can see.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from portal_extensions.access import Viewer, project_case
from portal_extensions.store.case_types import StoredCase
from portal_extensions.store.schema import cases

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 12


class SearchHit(BaseModel):
    portal_id: str
    crm_reference: str | None
    title: str
    status: str
    member_id: str
    received_at: datetime
    rank: float


def query_terms(text: str) -> list[str]:
    """The words of a search box entry, lower-cased, at most 12."""
    terms: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFC", text).lower()):
        if word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


def reference_forms(text: str) -> set[str]:
    """The CRM references a search box entry may be (one word of at most 64 characters, as
    typed, upper- or lower-cased), for an exact look-up beside the words' search: a reference
    is not a word of any searched field, and every role that sees a case sees its reference."""
    wanted = text.strip()
    if not wanted or len(wanted) > 64 or len(wanted.split()) != 1:
        return set()
    return {wanted, wanted.upper(), wanted.lower()}


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
"""The fields of a case the index searches, by their names in `access.project_case`."""


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


def search_cases(
    conn: sa.Connection,
    text: str,
    *,
    where: sa.ColumnElement[bool] | None = None,
    limit: int = 50,
    offset: int = 0,
    include_removed: bool = False,
) -> list[SearchHit]:
    """Cases matching every word of `text`, best first; `where` is the access filter."""
    terms = query_terms(text)
    if not terms:
        return []
    if conn.dialect.name == "sqlite":
        fts = sa.table("cases_fts", sa.column("rowid"))
        match = " AND ".join(f'"{term}"*' for term in terms)
        # bm25 is lower-is-better; weights follow the column order of cases_fts.
        rank: sa.ColumnElement[float] = sa.literal_column(
            "bm25(cases_fts, 10.0, 2.0, 1.0, 5.0, 1.0)"
        )
        query = (
            sa.select(*_columns(), (-rank).label("rank"))
            .select_from(cases.join(fts, fts.c.rowid == cases.c.id))
            .where(sa.literal_column("cases_fts").op("MATCH")(sa.bindparam("q", match)))
        )
    else:
        tsquery = sa.func.to_tsquery(
            sa.literal_column("'simple'"),
            sa.bindparam("q", " & ".join(f"{term}:*" for term in terms)),
        )
        vector: sa.ColumnElement[str] = sa.literal_column("search_vector")
        rank_expr = sa.func.ts_rank(
            sa.literal_column("'{0.1,0.2,0.4,1.0}'::float4[]"), vector, tsquery
        )
        query = sa.select(*_columns(), rank_expr.label("rank")).where(vector.op("@@")(tsquery))
    if where is not None:
        query = query.where(where)
    if not include_removed:
        query = query.where(cases.c.removed_at.is_(None))
    query = (
        query.order_by(sa.desc("rank"), cases.c.received_at.desc(), cases.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [SearchHit.model_validate(dict(row)) for row in conn.execute(query).mappings()]


def _columns() -> tuple[sa.ColumnElement[object], ...]:
    return (
        cases.c.portal_id,
        cases.c.crm_reference,
        cases.c.title,
        cases.c.status,
        cases.c.member_id,
        cases.c.received_at,
    )


__all__ = [
    "MAX_TERMS",
    "SEARCHED_FIELDS",
    "SearchHit",
    "matches_visible",
    "query_terms",
    "reference_forms",
    "search_cases",
]
