"""The portal's CSS and JavaScript, served from the portal itself (no CDN, no outside fonts).

govuk-frontend comes from the npm registry (`npm ci` at the repository root, pinned in
package-lock.json). A wheel carries the files the portal serves inside the package (setup.py
copies them in at build time, with govuk-frontend's package.json and licence), so an installed
portal needs no checkout and no npm; a source checkout (an editable install) reads them from
node_modules/. Either way the release is checked against the one the templates target. Its CSS
names the GDS Transport font, which is for gov.uk services only, so the font faces are removed
and the font family replaced by the system font stack as the bundle is loaded. Everything is
held in memory with a content hash for the ETag.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from portal_extensions.config import GOVUK_FRONTEND_VERSION
from portal_extensions.reports import document as report_document

SYSTEM_FONTS = (
    'system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",'
    '"Liberation Sans",sans-serif'
)
_FONT_FACE = re.compile(r"@font-face\{[^}]*\}")
_TRANSPORT = re.compile(r'"?GDS Transport"?(,arial,sans-serif)?')

#: Where a wheel carries govuk-frontend, under portal_extensions/web/ (setup.py puts it there).
PACKAGED = ("static", "govuk-frontend")
#: Where `npm ci` puts it in a source checkout (editable installs and development).
CHECKOUT = Path(__file__).resolve().parents[2] / "node_modules" / "govuk-frontend"


class AssetsMissingError(RuntimeError):
    """govuk-frontend is not installed where the settings say."""


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def rebrand_css(css: str) -> str:
    """govuk-frontend's CSS without GDS Transport: system fonts, no font downloads."""
    return _TRANSPORT.sub(SYSTEM_FONTS, _FONT_FACE.sub("", css))


def _asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def govuk_frontend_source(configured: Path | None = None) -> Traversable:
    """Where govuk-frontend is read from: the directory the operator configured if any
    (portal.govuk_frontend_dir), else the copy inside the installed package (a wheel), else
    the source checkout's node_modules/ (an editable install, after `npm ci`)."""
    if configured is not None:
        return configured
    packaged = resources.files("portal_extensions.web").joinpath(*PACKAGED)
    if packaged.joinpath("package.json").is_file():
        return packaged
    return CHECKOUT


def load_assets(govuk_frontend_dir: Path | None = None) -> dict[str, Asset]:
    """Every asset the pages use, keyed by its path under /assets/.

    `govuk_frontend_dir` overrides where govuk-frontend is found (see govuk_frontend_source).
    """
    source = govuk_frontend_source(govuk_frontend_dir)
    dist = source.joinpath("dist", "govuk")
    try:
        version = json.loads(source.joinpath("package.json").read_text(encoding="utf-8"))["version"]
        css = dist.joinpath("govuk-frontend.min.css").read_text(encoding="utf-8")
        js = dist.joinpath("govuk-frontend.min.js").read_bytes()
    except (OSError, KeyError, ValueError) as error:
        raise AssetsMissingError(
            f"govuk-frontend {GOVUK_FRONTEND_VERSION} was not found in {source}:"
            " run `npm ci` in the repository root (`make test` and `make demo` do this), or set"
            " portal.govuk_frontend_dir to where it is installed"
        ) from error
    if version != GOVUK_FRONTEND_VERSION:
        raise AssetsMissingError(
            f"{source} holds govuk-frontend {version}, but the templates"
            f" (govuk-frontend-jinja 4.1.0) need {GOVUK_FRONTEND_VERSION}: run `npm ci` in the"
            " repository root (or reinstall Caseload, whose package carries the right release)"
        )
    own = resources.files("portal_extensions.web") / "static"
    assets = {
        "govuk-frontend.min.css": _asset(rebrand_css(css).encode(), "text/css; charset=utf-8"),
        "govuk-frontend.min.js": _asset(js, "text/javascript; charset=utf-8"),
        "caseload.css": _asset((own / "caseload.css").read_bytes(), "text/css; charset=utf-8"),
        "caseload.js": _asset((own / "caseload.js").read_bytes(), "text/javascript; charset=utf-8"),
        # The scrutiny report's printable document (`reports.document`).
        report_document.STYLESHEET: _asset(
            report_document.stylesheet().encode(), "text/css; charset=utf-8"
        ),
    }
    return assets
