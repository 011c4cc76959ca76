"""Serving a case's files over HTTP: always as a download, under a plain, safe name."""

from __future__ import annotations

from portal_extensions.casework.attachments import safe_filename


def content_disposition(filename: str) -> str:
    """An `attachment` header for a sanitised name (ASCII, no quotes to escape)."""
    extension = filename.rsplit(".", 1)[-1].casefold() if "." in filename else "bin"
    plain = safe_filename(filename, extension if extension.isalnum() else "bin")
    return f'attachment; filename="{plain}"'


__all__ = ["content_disposition"]
