"""What every CRM schema module provides, and the element-tree checks they share.

A schema says what one CRM's records contain and what its write operations accept, so a mapping
file is checked against the CRM's contract before any call. One module per CRM in this package
defines a `CrmSchema` subclass and its `SCHEMA` instance; `mappings.schemas` finds them.
"""

from __future__ import annotations

import dataclasses
import difflib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from mappings.paths import CrmPath

# A tree of element names: a dict of children, or None for "anything below is allowed".
Tree = dict[str, "Tree"] | None
LEAF: Tree = {}
#: What is wrong with a path, and a suggestion (None when the path fits).
Verdict = tuple[str, str | None] | None


def leaves(*names: str) -> dict[str, Tree]:
    """Elements that are values (no children)."""
    return dict.fromkeys(names, LEAF)


def close(word: str, choices: Sequence[str]) -> str | None:
    """`did you mean ...?` for the nearest of `choices`, if any is near."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


def check_tree(path: CrmPath, tree: dict[str, Tree], where: str) -> Verdict:
    """None when `path` fits `tree`; else (what is wrong, suggestion)."""
    level: Tree = tree
    for depth, name in enumerate(path.names):
        if level is None:
            return None
        if name not in level:
            parent = ".".join(path.names[:depth])
            choices = sorted(level)
            if not choices:
                return (f"`{parent}` is a value and has no element `{name}`", None)
            return (
                f"{where} has no element `{name}` under `{parent}`"
                if parent
                else f"{where} has no element `{name}`",
                close(name, choices) or f"expected one of {', '.join(choices)}",
            )
        level = level[name]
    return None


@dataclass(frozen=True)
class CrmSchema(ABC):
    """Read and write rules of one CRM, for validating mapping files and shaping payloads.

    `record` is what a path is read from: the case, or a sub-record kind (`party`,
    `code_book`, or the path of a list that comes with a case, such as `Notes.Note`).
    """

    #: The CRM kind, as mapping files name it in `crm:` (and the connector registers it).
    name: ClassVar[str]
    #: The CRM's name for people (in problems: "not writable in Dynamics 365").
    title: ClassVar[str]
    #: Raw records hold every leaf as text (SOAP/XML) rather than JSON types.
    text_leaves: ClassVar[bool]
    #: Where a raw case carries the time the CRM last changed it; None when the CRM's contract
    #: gives no such element (sync then relies on the connector's `CasePage.complete_until`).
    modified_at_path: ClassVar[str | None] = None

    record: str = "case"

    @abstractmethod
    def check_read(self, path: CrmPath) -> Verdict:
        """None when `path` can be read from this schema's record; else what is wrong."""

    @abstractmethod
    def check_write(self, path: CrmPath, *, for_update: bool) -> Verdict:
        """None when a create (or update) of a case can write `path`; else what is wrong."""

    @abstractmethod
    def case_lists(self) -> Sequence[str]:
        """The paths of the lists of sub-records a case comes with (its notes, events)."""

    def item_schema(self, path: CrmPath) -> CrmSchema | tuple[str, str | None]:
        """The schema of one item of the list at `path` (of a case), or what is wrong."""
        known = sorted(self.case_lists())
        if any(step.selects for step in path.steps) or path.text not in known:
            return (
                f"`{path.text}` is not a list {self.title} gives with a case",
                close(path.text, known) or f"expected one of {', '.join(known)}",
            )
        return self.section(path.text)

    def section(self, record: str) -> CrmSchema:
        """The schema for reading `record` sub-records (`party`, `code_book`, a list path)."""
        return dataclasses.replace(self, record=record)


__all__ = ["LEAF", "CrmSchema", "Tree", "Verdict", "check_tree", "close", "leaves"]
