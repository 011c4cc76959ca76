"""Logging of the long-running commands: time, level and logger on every line (or one JSON object
per line), INFO by default, the chatty libraries held at INFO, and a refused sign-on header
named by the address it came from."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import warnings
from datetime import UTC, datetime

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portal_extensions.config import LoggingSettings, PortalSettings
from portal_extensions.logs import QUIET_LOGGERS, configure_logging
from portal_extensions.runtime import build_portal
from portal_extensions.store.database import Store

TEXT_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00) (INFO|WARNING|ERROR|DEBUG) ([\w.]+): (.*)$"
)


def _configured(**values: str) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(LoggingSettings.model_validate(values), stream=stream)
    return stream


def test_text_lines_carry_the_time_level_and_logger_and_info_is_kept() -> None:
    stream = _configured()
    logging.getLogger("portal_extensions.jobs.worker").info("synced %d cases", 5)
    logging.getLogger("portal_extensions.jobs.worker").debug("not at INFO")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    found = TEXT_LINE.match(lines[0])
    assert found is not None, lines[0]
    stamp, level, logger, message = found.groups()
    assert (level, logger, message) == ("INFO", "portal_extensions.jobs.worker", "synced 5 cases")
    assert abs((datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()) < 60


def test_json_format_writes_one_object_per_line() -> None:
    stream = _configured(format="json")
    log = logging.getLogger("cli.portal_cmd")
    log.warning("first")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("second, with\na newline")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["message"] for r in records] == ["first", "second, with\na newline"]
    assert records[0]["level"] == "WARNING" and records[0]["logger"] == "cli.portal_cmd"
    assert datetime.fromisoformat(records[0]["time"]).tzinfo is not None
    assert "ValueError: boom" in records[1]["exception"]
    assert set(records[0]) == {"time", "level", "logger", "message", "process"}


def test_the_level_drops_what_is_below_it() -> None:
    stream = _configured(level="warning")
    logging.getLogger("caseload.test").info("dropped")
    logging.getLogger("caseload.test").warning("kept")
    assert [line.rsplit(": ", 1)[1] for line in stream.getvalue().splitlines()] == ["kept"]


def test_soap_envelopes_and_urls_stay_out_of_the_log_even_at_debug() -> None:
    stream = _configured(level="DEBUG")
    logging.getLogger("zeep.transports").debug("HTTP Post to ...: <soap:Envelope>Mrs Smith")
    logging.getLogger("urllib3.connectionpool").debug("GET /contacts?$filter=lastname eq 'Smith'")
    logging.getLogger("sqlalchemy.engine.Engine").info("[parameters] ('Smith',)")
    logging.getLogger("portal_extensions.jobs.sync").debug("kept at DEBUG")
    assert "Smith" not in stream.getvalue()
    assert "kept at DEBUG" in stream.getvalue()
    assert logging.getLogger("zeep.transports").getEffectiveLevel() >= logging.INFO
    assert all(logging.getLogger(n).level >= logging.INFO for n in QUIET_LOGGERS)


def test_configuring_again_replaces_the_handler_and_keeps_others() -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    first = _configured()
    second = _configured(format="json")
    logging.getLogger("caseload.test").info("once")
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1
    assert other in logging.getLogger().handlers


def test_without_a_stream_it_writes_to_standard_error_as_it_is_now(monkeypatch) -> None:
    configure_logging(LoggingSettings())
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)
    logging.getLogger("caseload.test").info("to the stream in use")
    assert "to the stream in use" in swapped.getvalue()


def test_a_refused_sign_on_header_names_the_client_address(tmp_path, caplog) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    settings = PortalSettings(
        council_name="Fenmarsh",
        secret_key="k" * 40,
        https=False,
        sign_in_mode="trusted_header",
        trusted_proxies=["10.0.0.5/32"],
    )
    try:
        client = TestClient(build_portal(settings, store, None), client=("203.0.113.9", 50000))
        with caplog.at_level(logging.WARNING):
            answer = client.get(
                "/", headers={"X-Remote-User": "cllr.smith"}, follow_redirects=False
            )
    finally:
        store.close()
    assert answer.status_code in (302, 303)  # not signed in: sent to sign in
    refused = [r.getMessage() for r in caplog.records if "X-Remote-User" in r.getMessage()]
    assert refused == [
        "ignored the X-Remote-User header on a request from 203.0.113.9, which is not a trusted"
        " proxy"
    ]
    assert "cllr.smith" not in refused[0]
