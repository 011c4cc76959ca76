"""`mappings` stays a pure translation layer: no connector, no portal, no I/O but mapping files."""

from __future__ import annotations

import ast
from pathlib import Path

import mappings

PACKAGE = Path(mappings.__file__).parent
FORBIDDEN_IMPORTS = ("connector", "portal_extensions", "cli", "requests", "zeep", "socket")
IO_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "urlopen"}
ALLOWED_IO = {"loader.py"}  # reads mapping files, and nothing else


def modules() -> list[Path]:
    return sorted(PACKAGE.glob("*.py"))


def test_mappings_never_imports_the_connector_or_the_portal() -> None:
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN_IMPORTS, f"{path.name} imports {name}"


def test_only_the_loader_touches_files() -> None:
    for path in modules():
        if path.name in ALLOWED_IO:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in IO_CALLS, f"{path.name} calls {name}()"


def test_the_package_names_its_public_parts() -> None:
    for name in (
        "load_profile",
        "Mapping",
        "MappingError",
        "MappingFileError",
        "RecordMappingError",
        "UnmappedValueError",
        "MemberCase",
    ):
        assert name in mappings.__all__
        assert hasattr(mappings, name)
