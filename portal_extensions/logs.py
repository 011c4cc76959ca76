"""Logging for the long-running commands: serve, worker, sync, outbox send, demo and sandbox.

Each event is one line (`text`) or one JSON object per line (`json`, for a council's log
collector) with the time in UTC, the level and the logger's name, at INFO unless `[logging]`
says otherwise, on standard error (where systemd's journal and container runtimes collect it).

Never personal data: Caseload's own messages name cases by CRM reference, users by id and
clients by address, never a resident's name or a case's words. The libraries that would write
request and response bodies or query parameters are held at INFO or above whatever the level:
at DEBUG `zeep.transports` writes whole SOAP envelopes, urllib3 full URLs (an OData `$filter`
holds a searched name), the multipart parser form fields and SQLAlchemy bound parameters.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from portal_extensions.config import LoggingSettings

#: Loggers held at this level or above, whatever `[logging] level` asks (see the module).
QUIET_LOGGERS: dict[str, int] = {
    "zeep.transports": logging.INFO,
    "zeep": logging.INFO,
    "urllib3": logging.INFO,
    "requests_oauthlib": logging.INFO,
    "oauthlib": logging.INFO,
    "multipart": logging.INFO,
    "python_multipart": logging.INFO,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
    "uvicorn.access": logging.WARNING,
}


def _utc_time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """`2026-12-05T09:30:00.123+00:00 INFO portal_extensions.jobs.worker: message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc_time(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, process (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _CaseloadHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs, so a second call replaces it, not doubles it.

    Without an explicit stream it writes to whatever `sys.stderr` is when each event is logged,
    so a stream swapped (and closed) after configuration is never written to.
    """

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._follow_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follow_stderr:
            self.stream = sys.stderr  # under the handler's lock (Handler.handle holds it)
        super().emit(record)


def configure_logging(settings: LoggingSettings, *, stream: TextIO | None = None) -> None:
    """Send every logger's events at `settings.level` and above to `stream` (standard error).

    Called once at the start of each long-running command, and in each `serve --workers`
    process. Handlers other code installed (a test's log capture) are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _CaseloadHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _CaseloadHandler(stream)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    root.addHandler(handler)
    level = logging.getLevelNamesMapping()[settings.level]
    root.setLevel(level)
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(level, floor))
    logging.captureWarnings(True)


__all__ = ["QUIET_LOGGERS", "JsonFormatter", "TextFormatter", "configure_logging"]
