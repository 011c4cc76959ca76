"""The arrows of docs/architecture.md, held by reading every import in the tree.

Imports point one way: `cli -> portal_extensions -> {mappings, connector}`; inside
`portal_extensions`, `web -> casework -> store` and `jobs -> casework/store`, and nothing imports
`web` except `runtime`. `connector` and `mappings` never import each other or the portal. Every
SQL statement lives in `portal_extensions/store/`: nothing else in the portal or the CLI imports
a database library (the access policy only builds its where-clause with SQLAlchemy's
expression functions, beside its Python check; the store runs it). Every import counts,
including those inside functions and under `TYPE_CHECKING`: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cli", "connector", "mappings", "portal_extensions")


@dataclass(frozen=True)
class Rule:
    """Modules under `source` must not import modules under any of `forbidden`,
    except the modules listed in `unless` (by their own dotted name)."""

    source: str
    forbidden: tuple[str, ...]
    why: str
    unless: tuple[str, ...] = ()


PE = "portal_extensions"
#: The database libraries: only the store speaks SQL.
DATABASE = ("sqlalchemy", "alembic", "psycopg", "psycopg2", "sqlite3")
RULES: tuple[Rule, ...] = (
    Rule("connector", ("mappings", PE, "cli"), "connector is a CRM client library"),
    Rule("mappings", ("connector", PE, "cli"), "mappings translate records and do no I/O"),
    Rule(PE, ("cli",), "the CLI calls the portal, never the reverse"),
    Rule(
        PE,
        (f"{PE}.web",),
        "only the composition root builds the web app",
        unless=(f"{PE}.runtime", f"{PE}.web"),
    ),
    Rule(
        f"{PE}.casework",
        (f"{PE}.jobs", f"{PE}.runtime", "fastapi", "starlette"),
        "casework is the application layer, free of HTTP",
    ),
    Rule(
        f"{PE}.reports",
        (f"{PE}.jobs", f"{PE}.runtime", "fastapi", "starlette"),
        "reports are computed free of HTTP, like casework",
    ),
    Rule(
        f"{PE}.store",
        (
            f"{PE}.casework",
            f"{PE}.reports",
            f"{PE}.jobs",
            f"{PE}.runtime",
            "fastapi",
            "starlette",
        ),
        "the store holds SQL and knows no layer above it",
    ),
    Rule(
        f"{PE}.jobs",
        (f"{PE}.runtime", "fastapi", "starlette"),
        "jobs run over casework and the store",
    ),
    Rule(
        f"{PE}.config",
        (f"{PE}.store", f"{PE}.casework", f"{PE}.jobs", f"{PE}.runtime", f"{PE}.access"),
        "configuration is read before anything is built",
    ),
    Rule(
        f"{PE}.access",
        (f"{PE}.casework", f"{PE}.jobs", f"{PE}.runtime", f"{PE}.store"),
        "the access policy is a rule, consulted by the layers above it",
    ),
    Rule(
        PE,
        DATABASE,
        "every SQL statement lives in portal_extensions/store/",
        unless=(f"{PE}.store", f"{PE}.access"),
    ),
    Rule(
        f"{PE}.access",
        tuple(d for d in DATABASE if d != "sqlalchemy"),
        "the access policy builds a where-clause and runs no statement",
    ),
    Rule("cli", DATABASE, "every SQL statement lives in portal_extensions/store/"),
    Rule("connector.lagan", ("connector.dataverse",), "each CRM keeps to its own subpackage"),
    Rule("connector.dataverse", ("connector.lagan",), "each CRM keeps to its own subpackage"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every module `source` imports, absolute, with the line it is imported on."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from pkg import module` imports pkg.module too
                yield node.lineno, f"{target}.{alias.name}"


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    found: dict[tuple[int, str], str] = {}  # one report per line and rule
    for line, target in imports_of(source, module, is_package=is_package):
        for rule in RULES:
            if not under(module, rule.source) or any(under(module, u) for u in rule.unless):
                continue
            if any(under(target, forbidden) for forbidden in rule.forbidden):
                found.setdefault((line, rule.why), f"{module}:{line} imports {target} ({rule.why})")
    return sorted(found.values())


def project_modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield module_name(path), path


def test_every_import_in_the_tree_follows_the_arrows() -> None:
    problems: list[str] = []
    for module, path in project_modules():
        problems += violations(
            module, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py"
        )
    assert problems == [], "imports against docs/architecture.md:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("connector.factory", "from mappings import load_profile"),
        ("mappings.engine", "import portal_extensions.store"),
        ("portal_extensions.casework.notes", "from fastapi import Request"),
        ("portal_extensions.casework.notes", "def f():\n    from portal_extensions.web import app"),
        ("portal_extensions.store.cases", "from ..casework import enquiries"),
        ("portal_extensions.store.cases", "from portal_extensions import casework"),
        ("portal_extensions.jobs.worker", "from portal_extensions.web.app import create_app"),
        ("portal_extensions.demo", "from portal_extensions.web import create_app"),
        ("portal_extensions.config", "from portal_extensions.store.database import Store"),
        ("connector.lagan.client", "from connector.dataverse import DataverseClient"),
        ("portal_extensions.jobs.sync", "import cli.main"),
        ("portal_extensions.jobs.sync", "import sqlalchemy as sa"),
        ("portal_extensions.jobs.worker", "from sqlalchemy.engine import make_url"),
        ("portal_extensions.directory", "def f():\n    from sqlalchemy import select"),
        ("portal_extensions.casework.notes", "import sqlite3"),
        ("portal_extensions.web.routes.health", "from sqlalchemy import text"),
        ("portal_extensions.access", "import psycopg"),
        ("cli.store_cmd", "import sqlalchemy"),
        ("portal_extensions.reports.service", "from fastapi import Request"),
        ("portal_extensions.store.reports", "from portal_extensions.reports import figures"),
    ],
)
def test_a_wrong_import_is_caught(module: str, source: str) -> None:
    assert violations(module, source) != []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("portal_extensions.runtime", "from portal_extensions.web import create_app"),
        ("portal_extensions.web.app", "from portal_extensions.casework import enquiries"),
        ("portal_extensions.casework.notes", "from portal_extensions.store import outbox"),
        ("portal_extensions.jobs.worker", "from portal_extensions.casework import status"),
        ("portal_extensions.store.cases", "from . import schema"),
        ("portal_extensions.store.sync_state", "import sqlalchemy as sa"),
        ("portal_extensions.access", "from sqlalchemy import and_, or_"),
        ("portal_extensions.jobs.sync", "from portal_extensions.store.database import Connection"),
        ("cli.main", "from portal_extensions.runtime import Runtime"),
        ("connector.lagan.client", "from connector.errors import CRMError"),
    ],
)
def test_a_right_import_passes(module: str, source: str) -> None:
    assert violations(module, source) == []
