"""Build step: the wheel carries govuk-frontend's built files, so an installed portal is styled.

Everything about the package is declared in pyproject.toml; this file only adds one step to
`build_py`. govuk-frontend comes from the npm registry, pinned in package.json and
package-lock.json and installed by `npm ci` into node_modules/ (not kept in git). When a wheel
is built, the files the portal serves (the minified CSS and JavaScript) are copied from
node_modules/govuk-frontend/ into the package as portal_extensions/web/static/govuk-frontend/,
together with govuk-frontend's package.json (its version, checked against the one the
templates target when the portal starts, and its MIT licence declaration) and README.md (which
carries its licence statement; the npm package ships no separate licence file). The sdist
carries the same files (MANIFEST.in), so a wheel built from it needs no npm either.

Editable installs copy nothing: they read the checkout's node_modules/ directly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
NODE_PACKAGE = ROOT / "node_modules" / "govuk-frontend"
#: Inside the package, where portal_extensions.web.assets looks first.
PACKAGED = Path("portal_extensions", "web", "static", "govuk-frontend")
#: The files copied, as paths under node_modules/govuk-frontend/ (kept the same inside).
FILES = (
    "package.json",
    "README.md",
    "dist/govuk/govuk-frontend.min.css",
    "dist/govuk/govuk-frontend.min.js",
)


class GovukFrontendMissingError(RuntimeError):
    """node_modules does not hold the govuk-frontend release package.json pins."""


def pinned_version() -> str:
    """The govuk-frontend release package.json pins (the one govuk-frontend-jinja targets)."""
    manifest = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    return str(manifest["dependencies"]["govuk-frontend"])


def check_govuk_frontend(source: Path) -> None:
    """Refuse to build a wheel without every file, or with a release other than the pinned one."""
    pinned = pinned_version()
    missing = [name for name in FILES if not (source / name).is_file()]
    if missing:
        raise GovukFrontendMissingError(
            f"building the package needs govuk-frontend {pinned} in {source} (missing:"
            f" {', '.join(missing)}): run `npm ci` in the repository root first"
        )
    installed = json.loads((source / "package.json").read_text(encoding="utf-8"))
    if installed.get("version") != pinned:
        raise GovukFrontendMissingError(
            f"{source} holds govuk-frontend {installed.get('version')}, but package.json pins"
            f" {pinned}: run `npm ci` in the repository root"
        )
    if not installed.get("license"):
        raise GovukFrontendMissingError(
            f"{source}/package.json declares no licence; the wheel must carry govuk-frontend's"
        )


class BuildPyWithGovukFrontend(build_py):
    """`build_py`, then govuk-frontend's served files and licence into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        check_govuk_frontend(NODE_PACKAGE)
        for name in FILES:
            target = Path(self.build_lib) / PACKAGED / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(NODE_PACKAGE / name, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(Path(self.build_lib) / PACKAGED / name) for name in FILES]


if __name__ == "__main__":  # as the build backend runs it; tests import the check above
    setup(cmdclass={"build_py": BuildPyWithGovukFrontend})
