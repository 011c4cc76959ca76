"""Compiled readers and writers of CRM values: closures built once per field at load time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mappings.engine import Extract, PathCache, code_key
from mappings.paths import CrmPath


def nothing(_record: dict[str, Any], _cache: PathCache) -> Any:
    return None


def single(path: CrmPath) -> Extract:
    get = path.reader()

    def extract(record: dict[str, Any], cache: PathCache) -> Any:
        value = get(record, cache)
        # Some builds repeat scalar elements (ObjectReference); one value is that value.
        if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], dict | list):
            return value[0]
        return value

    return extract


def chain(first: Callable[[Any], Any], second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: second(first(value))


def leaf_code(outbound: Callable[[Any], Any], text_leaves: bool) -> Callable[[Any], Any]:
    if not text_leaves:
        return outbound
    return lambda value: code_key(outbound(value))


def formatted(write: Callable[[Any], Any], template: str) -> Callable[[Any], Any]:
    return lambda value: template.replace("{value}", str(write(value)))


def when(condition: CrmPath, codes: frozenset[str], extract: Extract) -> Extract:
    def guarded(record: dict[str, Any], cache: PathCache) -> Any:
        value = condition.get(record, cache)
        if value is None or code_key(value) not in codes:
            return None
        return extract(record, cache)

    return guarded


def present(value: Any) -> bool:
    return value is not None and value != ""


def first_of(paths: list[CrmPath]) -> Extract:
    def extract(record: dict[str, Any], cache: PathCache) -> Any:
        for path in paths:
            value = path.get(record, cache)
            if present(value):
                return value
        return None

    return extract


def concat(paths: list[CrmPath], separator: str) -> Extract:
    def extract(record: dict[str, Any], cache: PathCache) -> Any:
        values = [str(v) for v in (p.get(record, cache) for p in paths) if present(v)]
        return separator.join(values) if values else None

    return extract


def template(parts: list[tuple[str, CrmPath | None]]) -> Extract:
    def extract(record: dict[str, Any], cache: PathCache) -> Any:
        out: list[str] = []
        found = False
        for literal, path in parts:
            if path is None:
                out.append(literal)
                continue
            value = path.get(record, cache)
            if present(value):
                found = True
                out.append(str(value))
        return " ".join("".join(out).split()) if found else None

    return extract


__all__ = [
    "chain",
    "concat",
    "first_of",
    "formatted",
    "leaf_code",
    "nothing",
    "present",
    "single",
    "template",
    "when",
]
