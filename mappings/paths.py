"""CRM record paths: parsed once when a mapping is loaded, then walked without parsing.

Syntax: segments joined by `.`; a segment is a key, optionally followed by `[N]` (the Nth item
of a list) or `[Key=Value]` (the first item of a list of records whose `Key` equals `Value`):
`Form.FormField[Key=MemberId].Value`, `CoreDetails.AssociatedObject.ObjectID.ObjectReference`.
A Dataverse annotation suffix such as `@odata.bind` stays inside its segment
(`customerid_contact@odata.bind` is one key).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^([^.\[\]=]+)((?:\[[^\[\]]+\])*)$")
_SELECTOR = re.compile(r"\[([^\[\]]+)\]")
_ANNOTATION = "@odata."

PathCache = dict[tuple[int, str], dict[Any, Any]]
Reader = Callable[[Any, PathCache | None], Any]


class PathSyntaxError(ValueError):
    """A path string does not follow the path syntax."""


@dataclass(frozen=True, slots=True)
class Step:
    """Key `name`, then optionally an index or a `key=value` selection in the list found there."""

    name: str
    index: int | None = None
    select_key: str | None = None
    select_value: str | None = None

    @property
    def selects(self) -> bool:
        return self.index is not None or self.select_key is not None


class CrmPath:
    """A compiled path into a raw CRM record (nested dicts and lists)."""

    __slots__ = ("steps", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.steps: tuple[Step, ...] = tuple(_parse(text))

    def __repr__(self) -> str:
        return f"CrmPath({self.text!r})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)

    def get(self, record: Any, cache: PathCache | None = None) -> Any:
        """The value at this path, or None when any part of it is absent.

        `cache` (one dict per record, reused across that record's paths) turns each list
        selection into a dict lookup after the first, so a form of N fields costs O(N), not O(N²).
        """
        node = record
        for step in self.steps:
            if not isinstance(node, dict):
                return None
            node = node.get(step.name)
            if node is None:
                return None
            if step.index is not None:
                if not isinstance(node, list) or step.index >= len(node):
                    return None
                node = node[step.index]
            elif step.select_key is not None:
                if isinstance(node, dict):
                    node = [node]
                if not isinstance(node, list):
                    return None
                key, wanted = step.select_key, step.select_value
                if cache is None:
                    node = _select(node, key, wanted)
                else:
                    slot = (id(node), key)
                    index = cache.get(slot)
                    if index is None:
                        index = cache[slot] = _index(node, key)
                    node = index.get(wanted)
                if node is None:
                    return None
        return node

    def reader(self) -> Reader:
        """`get`, specialised for this path once, for the per-record hot loop.

        Plain key paths (most Dataverse columns) and one-selection paths
        (`Form.FormField[Key=X].Value`, every Lagan form field) skip the general step walk.
        """
        selecting = [i for i, step in enumerate(self.steps) if step.selects]
        if not selecting:
            return _plain_reader(self.names)
        if len(selecting) == 1 and self.steps[selecting[0]].select_key is not None:
            at = selecting[0]
            step = self.steps[at]
            assert step.select_key is not None
            return _selecting_reader(
                self.names[: at + 1], step.select_key, step.select_value, self.names[at + 1 :]
            )
        return self.get

    def set(self, record: dict[str, Any], value: Any) -> None:
        """Write `value` here, creating the dicts, lists and selected items on the way."""
        node: Any = record
        last = len(self.steps) - 1
        for position, step in enumerate(self.steps):
            final = position == last
            if not step.selects:
                if final:
                    node[step.name] = value
                    return
                node = node.setdefault(step.name, {})
                continue
            items = node.setdefault(step.name, [])
            if step.index is not None:
                while len(items) <= step.index:
                    items.append({})
                if final:
                    items[step.index] = value
                    return
                node = items[step.index]
                continue
            for item in items:
                if item.get(step.select_key) == step.select_value:
                    node = item
                    break
            else:
                node = {step.select_key: step.select_value}
                items.append(node)
            if final:
                raise PathSyntaxError(f"path `{self.text}` ends in a selection, not a key")


def _plain_reader(names: tuple[str, ...]) -> Reader:
    if len(names) == 1:
        (name,) = names

        def one(record: Any, cache: PathCache | None = None) -> Any:
            return record.get(name) if isinstance(record, dict) else None

        return one

    def walk(record: Any, cache: PathCache | None = None) -> Any:
        node = record
        for part in names:
            if not isinstance(node, dict):
                return None
            node = node.get(part)
            if node is None:
                return None
        return node

    return walk


def _selecting_reader(
    to_list: tuple[str, ...], key: str, wanted: str | None, after: tuple[str, ...]
) -> Reader:
    """Walk `to_list`, pick the item whose `key` is `wanted` (indexed once per record), walk on."""
    to_items, then = _plain_reader(to_list), _plain_reader(after) if after else None

    def select(record: Any, cache: PathCache | None = None) -> Any:
        items = to_items(record, None)
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            return None
        if cache is None:
            item = _select(items, key, wanted)
        else:
            slot = (id(items), key)
            index = cache.get(slot)
            if index is None:
                index = cache[slot] = _index(items, key)
            item = index.get(wanted)
        if item is None or then is None:
            return item
        return then(item, None)

    return select


def _index(items: list[Any], key: str) -> dict[Any, Any]:
    """Items by their `key`, the first of equal keys winning (as `_select` finds them)."""
    index: dict[Any, Any] = {}
    for item in reversed(items):
        if isinstance(item, dict) and key in item:
            index[item[key]] = item
    return index


def _select(items: list[Any], key: str, wanted: str | None) -> Any:
    for item in items:
        if isinstance(item, dict) and item.get(key) == wanted:
            return item
    return None


def _parse(text: str) -> list[Step]:
    if not text or text != text.strip():
        raise PathSyntaxError("a path must be non-empty and have no surrounding spaces")
    protected = text.replace(_ANNOTATION, "@odata\0")
    steps: list[Step] = []
    for raw in protected.split("."):
        segment = raw.replace("\0", ".")
        match = _SEGMENT.match(raw)
        if not match:
            raise PathSyntaxError(
                f"segment `{segment}` of `{text}` is not `Name`, `Name[N]` or `Name[Key=Value]`"
            )
        name, selectors = match.group(1).replace("\0", "."), _SELECTOR.findall(match.group(2))
        if len(selectors) > 1:
            raise PathSyntaxError(f"segment `{segment}` of `{text}` has more than one selector")
        if not selectors:
            steps.append(Step(name))
        elif selectors[0].isdigit():
            steps.append(Step(name, index=int(selectors[0])))
        elif "=" in selectors[0]:
            key, _, wanted = selectors[0].partition("=")
            if not key or not wanted:
                raise PathSyntaxError(f"selector `[{selectors[0]}]` of `{text}` needs `Key=Value`")
            steps.append(Step(name, select_key=key.strip(), select_value=wanted.strip()))
        else:
            raise PathSyntaxError(
                f"selector `[{selectors[0]}]` of `{text}` is neither an index nor `Key=Value`"
            )
    if steps[-1].select_key is not None:
        raise PathSyntaxError(
            f"path `{text}` ends in a selection: name the key to read, e.g. `{text}.Value`"
        )
    return steps


__all__ = ["CrmPath", "PathCache", "PathSyntaxError", "Reader", "Step"]
