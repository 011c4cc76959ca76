"""The portal's CSS and JavaScript, served from the portal itself (no CDN, no outside fonts).

govuk-frontend comes from the npm registry (`npm ci` at the repository root, pinned in
package-lock.json). Its CSS names the GDS Transport font, which is for gov.uk services only, so
the font faces are removed and the font family replaced by the system font stack as the bundle is
loaded. Everything is held in memory with a content hash for the ETag.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from portal_extensions.config import GOVUK_FRONTEND_VERSION

SYSTEM_FONTS = (
    'system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",'
    '"Liberation Sans",sans-serif'
)
_FONT_FACE = re.compile(r"@font-face\{[^}]*\}")
_TRANSPORT = re.compile(r'"?GDS Transport"?(,arial,sans-serif)?')


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


def load_assets(govuk_frontend_dir: Path) -> dict[str, Asset]:
    """Every asset the pages use, keyed by its path under /assets/."""
    package_json = govuk_frontend_dir / "package.json"
    dist = govuk_frontend_dir / "dist" / "govuk"
    try:
        version = json.loads(package_json.read_text(encoding="utf-8"))["version"]
        css = (dist / "govuk-frontend.min.css").read_text(encoding="utf-8")
        js = (dist / "govuk-frontend.min.js").read_bytes()
    except (OSError, KeyError, ValueError) as error:
        raise AssetsMissingError(
            f"govuk-frontend {GOVUK_FRONTEND_VERSION} was not found in {govuk_frontend_dir}:"
            " run `npm ci` in the repository root (`make test` and `make demo` do this), or set"
            " govuk_frontend_dir to where it is installed"
        ) from error
    if version != GOVUK_FRONTEND_VERSION:
        raise AssetsMissingError(
            f"{govuk_frontend_dir} holds govuk-frontend {version}, but the templates"
            f" (govuk-frontend-jinja 4.1.0) need {GOVUK_FRONTEND_VERSION}: run `npm ci`"
        )
    own = resources.files("portal_extensions.web") / "static"
    assets = {
        "govuk-frontend.min.css": _asset(rebrand_css(css).encode(), "text/css; charset=utf-8"),
        "govuk-frontend.min.js": _asset(js, "text/javascript; charset=utf-8"),
        "caseload.css": _asset((own / "caseload.css").read_bytes(), "text/css; charset=utf-8"),
        "caseload.js": _asset((own / "caseload.js").read_bytes(), "text/javascript; charset=utf-8"),
    }
    return assets
