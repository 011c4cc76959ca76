"""Where the portal's govuk-frontend comes from, and the release check that guards it.

(The wheel's own copy is exercised end to end by tests/test_wheel.py.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from portal_extensions.config import GOVUK_FRONTEND_VERSION
from portal_extensions.web.assets import (
    CHECKOUT,
    AssetsMissingError,
    govuk_frontend_source,
    load_assets,
)

ROOT = Path(__file__).resolve().parents[2]


def _copy_of_govuk_frontend(tmp_path: Path, version: str) -> Path:
    """A govuk-frontend directory like npm's, claiming `version`."""
    copy = tmp_path / "govuk-frontend"
    (copy / "dist" / "govuk").mkdir(parents=True)
    for name in ("govuk-frontend.min.css", "govuk-frontend.min.js"):
        shutil.copyfile(CHECKOUT / "dist" / "govuk" / name, copy / "dist" / "govuk" / name)
    manifest = json.loads((CHECKOUT / "package.json").read_text(encoding="utf-8"))
    (copy / "package.json").write_text(json.dumps({**manifest, "version": version}))
    return copy


def test_a_source_checkout_reads_govuk_frontend_from_node_modules() -> None:
    assert CHECKOUT == ROOT / "node_modules" / "govuk-frontend"
    assert govuk_frontend_source() == CHECKOUT
    assets = load_assets()
    assert set(assets) == {
        "govuk-frontend.min.css",
        "govuk-frontend.min.js",
        "caseload.css",
        "caseload.js",
        "report.css",  # the scrutiny report's printable document (reports/document/)
    }
    css = assets["govuk-frontend.min.css"].body.decode()
    assert f'--govuk-frontend-version:"{GOVUK_FRONTEND_VERSION}"' in css
    assert "GDS Transport" not in css and "@font-face" not in css


def test_a_configured_directory_is_used_as_given(tmp_path: Path) -> None:
    copy = _copy_of_govuk_frontend(tmp_path, GOVUK_FRONTEND_VERSION)
    assert govuk_frontend_source(copy) == copy
    assert (
        load_assets(copy)["govuk-frontend.min.js"].body
        == (CHECKOUT / "dist" / "govuk" / "govuk-frontend.min.js").read_bytes()
    )


def test_a_release_other_than_the_templates_target_is_refused(tmp_path: Path) -> None:
    copy = _copy_of_govuk_frontend(tmp_path, "5.0.0")
    with pytest.raises(AssetsMissingError) as refused:
        load_assets(copy)
    assert "holds govuk-frontend 5.0.0" in str(refused.value)
    assert f"need {GOVUK_FRONTEND_VERSION}" in str(refused.value)


def test_missing_govuk_frontend_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(AssetsMissingError, match="run `npm ci` in the repository root"):
        load_assets(tmp_path / "nowhere")


def test_npm_pins_the_release_the_templates_target() -> None:
    manifest = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    assert manifest["dependencies"]["govuk-frontend"] == GOVUK_FRONTEND_VERSION
    assert lock["packages"]["node_modules/govuk-frontend"]["version"] == GOVUK_FRONTEND_VERSION
