"""Files on a case: what may be uploaded, how it is recognised, and how it is named.

A file's type is decided by its content (the first bytes, and for Office files the parts inside
the zip), and must agree with its name: a renamed executable is refused even when it is called
`letter.pdf`. Names are cut down to a plain, safe form before they reach the CRM or a download
header. Only these types are accepted: PDF, PNG, JPEG, Word (.docx), Excel (.xlsx), plain text,
and emails (.eml, .msg).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from typing import Final

from portal_extensions.store.case_writes import CheckedFile

ALLOWED_TYPES: Final = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "txt": "text/plain",
    "eml": "message/rfc822",
    "msg": "application/vnd.ms-outlook",
}
"""Extension -> media type; the only files a case takes."""

ALLOWED_MEDIA_TYPES: Final = frozenset(ALLOWED_TYPES.values())
_OLE: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_EMAIL_HEADER: Final = re.compile(
    rb"^(from|to|subject|date|received|return-path|message-id|mime-version|delivered-to"
    rb"|reply-to|cc|x-[a-z0-9-]+):",
    re.IGNORECASE | re.MULTILINE,
)
MAX_NAME_LENGTH: Final = 100


class FileProblem(ValueError):
    """Why a file was refused, in words the person who chose it can act on."""


def safe_filename(raw: str, extension: str) -> str:
    """A plain name: no folders, no control or odd characters, no leading dots, at most 100
    characters, always ending in the (checked) extension."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFKC", name)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = "".join(ch for ch in stem if unicodedata.category(ch)[0] != "C")
    stem = re.sub(r"[^A-Za-z0-9 ._()-]+", "_", stem)
    stem = re.sub(r"[ _]{2,}", "_", stem).strip(" ._-")
    stem = stem[: MAX_NAME_LENGTH - len(extension) - 1] or "attachment"
    return f"{stem}.{extension}"


def _is_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _office_kind(content: bytes) -> str | None:
    """docx or xlsx from the parts inside the zip, or None for any other zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def sniff(content: bytes) -> set[str]:
    """The extensions this content may carry, judged by the content alone."""
    if content.startswith(b"%PDF-"):
        return {"pdf"}
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return {"png"}
    if content.startswith(b"\xff\xd8\xff"):
        return {"jpg", "jpeg"}
    if content.startswith(b"PK\x03\x04"):
        kind = _office_kind(content)
        return {kind} if kind else set()
    if content.startswith(_OLE):
        return {"msg"}  # Outlook's format; older Office files share it but are not accepted
    if _is_text(content):
        kinds = {"txt"}
        if _EMAIL_HEADER.search(content[:4096]):
            kinds.add("eml")
        return kinds
    return set()


def check_file(filename: str, content: bytes, max_bytes: int) -> CheckedFile:
    """The file, named safely with its media type, or `FileProblem`."""
    if not filename.strip() and not content:
        raise FileProblem("Choose a file")
    if not content:
        raise FileProblem("The selected file is empty")
    if len(content) > max_bytes:
        raise FileProblem(f"The file must be smaller than {_size(max_bytes)}")
    extension = filename.rsplit(".", 1)[-1].casefold() if "." in filename else ""
    if extension not in ALLOWED_TYPES:
        raise FileProblem("The file must be a PDF, PNG, JPEG, Word, Excel, text or email file")
    if extension not in sniff(content):
        raise FileProblem(
            f"The file is called .{extension} but its content is not a {extension.upper()} file"
        )
    canonical = "jpg" if extension == "jpeg" else extension
    return CheckedFile(safe_filename(filename, canonical), ALLOWED_TYPES[canonical], content)


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):g} MB"
    return f"{count / 1024:g} KB"


def served_media_type(filename: str, content: bytes, claimed: str | None = None) -> str:
    """The type a download is served as, decided by its content (sniffed again, as on upload):
    the `claimed` type (the CRM's) or the one the name's extension implies, whichever the
    content agrees with, else `application/octet-stream`, which no browser renders."""
    kinds = sniff(content)
    if claimed is not None and claimed in {ALLOWED_TYPES[kind] for kind in kinds}:
        return claimed
    extension = filename.rsplit(".", 1)[-1].casefold() if "." in filename else ""
    if extension in ALLOWED_TYPES and extension in kinds:
        return ALLOWED_TYPES[extension]
    return "application/octet-stream"


__all__ = [
    "ALLOWED_MEDIA_TYPES",
    "ALLOWED_TYPES",
    "CheckedFile",
    "FileProblem",
    "check_file",
    "safe_filename",
    "served_media_type",
    "sniff",
]
