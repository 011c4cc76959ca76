"""`caseload audit show --case REF` on SQLite and PostgreSQL: identifiers and outcomes, never
case content, and filters that narrow the trail."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from cli import audit_cmd
from portal_extensions.store import IndexedCase, Store, record_event, upsert_cases
from portal_extensions.store.audit_report import case_audit
from portal_extensions.store.schema import audit_events
from tests.store.conftest import Database
from tests.store.fakes import new_case

T = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
TITLE = "Rats in the communal bin store"
DESCRIPTION = "Mrs Example says the rats came back after the last collection"


@pytest.fixture
def trail(store: Store) -> dict[str, str]:
    """Two cases with events of every shape the audit table holds about cases."""
    case = new_case(TITLE, description=DESCRIPTION, crm_reference="101000000042")
    other = new_case("Another case entirely", crm_reference="101000000043")
    portal_id, other_id = str(case.portal_id), str(other.portal_id)
    with store.write() as conn:
        upsert_cases(conn, [IndexedCase(case, T), IndexedCase(other, T)], now=T)
        events = [
            # (minutes after T, actor, on behalf of, action, subject type, subject id, detail)
            (0, "ella", None, "view_case", "case", portal_id, {"outcome": "allowed"}),
            (5, "mo", None, "view_case", "case", portal_id, {"outcome": "refused"}),
            (
                10,
                "staff.kim",
                "cllr-0001",
                "outbox.note.queued",
                "case",
                portal_id,
                {"idempotency_key": str(uuid.uuid4()), "kind": "note"},
            ),
            (
                20,
                "outbox-dispatcher",
                None,
                "outbox.note.needs_attention",
                "case",
                portal_id,
                {"reason": DESCRIPTION},  # free text in detail must never be printed
            ),
            (
                30,
                "crm-events",
                None,
                "crm.case_event",
                "crm_case",
                "101000000042",
                {"event": "updated", "outcome": "updated"},
            ),
            (1440, "ella", None, "view_case", "case", portal_id, {"outcome": "allowed"}),
            (0, "ella", None, "view_case", "case", other_id, {"outcome": "allowed"}),
            (0, "ella", None, "search", "search", None, {"outcome": "allowed"}),
        ]
        for minutes, actor, behalf, action, subject_type, subject_id, detail in events:
            record_event(
                conn,
                actor=actor,
                on_behalf_of=behalf,
                action=action,
                subject_type=subject_type,
                subject_id=subject_id,
                detail=detail,
                at=T + timedelta(minutes=minutes),
            )
    return {"portal_id": portal_id, "other_id": other_id}


@pytest.fixture
def config(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A caseload.toml pointing the CLI at the test's own database (and schema)."""
    monkeypatch.delenv("CASELOAD_DATABASE_URL", raising=False)
    monkeypatch.delenv("CASELOAD_DATA_DIR", raising=False)
    url = database.url
    if database.schema:
        url += f"?options=-csearch_path%3D{database.schema}"
    path = tmp_path / "caseload.toml"
    path.write_text(f'database_url = "{url}"\n')
    return path


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(audit_cmd.app, name="audit")
    return app


def _show(config: Path, *args: str) -> str:
    result = CliRunner().invoke(_app(), ["audit", "show", *args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.output


def test_show_by_crm_reference_lists_every_event_about_the_case_and_no_content(
    trail: dict[str, str], config: Path
) -> None:
    output = _show(config, "--case", "101000000042")
    lines = output.splitlines()
    assert lines[0] == (
        f"Audit trail of case portal id {trail['portal_id']}, CRM reference 101000000042"
    )
    assert lines[1].split() == ["Time", "(UK)", "Who", "For", "whom", "Action", "Case", "Outcome"]
    body = lines[2:-1]
    actors = ["ella", "mo", "staff.kim", "outbox-dispatcher", "crm-events", "ella"]
    assert [line.split()[3] for line in body] == actors
    assert body[0].startswith("2026-11-02 10:00:00 GMT")
    assert body[1].split()[-1] == "refused"
    assert body[2].split()[4:] == ["cllr-0001", "outbox.note.queued", trail["portal_id"], "-"]
    assert body[4].split()[-2:] == ["101000000042", "updated"]
    assert lines[-1] == "6 events"
    assert trail["other_id"] not in output
    assert TITLE not in output and DESCRIPTION not in output
    assert "Mrs Example" not in output and "rats" not in output.lower()


def test_show_by_portal_id_as_json_matches_the_human_view(
    trail: dict[str, str], config: Path
) -> None:
    report = json.loads(_show(config, "--case", trail["portal_id"], "--json"))
    assert report["crm_reference"] == "101000000042" and report["in_index"] is True
    assert [event["action"] for event in report["events"]] == [
        "view_case",
        "view_case",
        "outbox.note.queued",
        "outbox.note.needs_attention",
        "crm.case_event",
        "view_case",
    ]
    assert report["events"][2]["on_behalf_of"] == "cllr-0001"
    assert set(report["events"][0]) == {
        "id",
        "at",
        "actor",
        "on_behalf_of",
        "action",
        "case",
        "outcome",
    }
    raw = json.dumps(report)
    assert TITLE not in raw and DESCRIPTION not in raw


def test_filters_narrow_by_user_time_and_action_prefix(trail: dict[str, str], config: Path) -> None:
    def actions(*args: str) -> list[tuple[str, str]]:
        report = json.loads(_show(config, "--case", "101000000042", "--json", *args))
        return [(event["actor"], event["action"]) for event in report["events"]]

    assert actions("--user", "ELLA") == [("ella", "view_case"), ("ella", "view_case")]
    assert actions("--user", "cllr-0001") == [("staff.kim", "outbox.note.queued")]
    assert actions("--action", "outbox") == [
        ("staff.kim", "outbox.note.queued"),
        ("outbox-dispatcher", "outbox.note.needs_attention"),
    ]
    assert actions("--action", "outbox.note.queued", "--action", "crm.case_event") == [
        ("staff.kim", "outbox.note.queued"),
        ("crm-events", "crm.case_event"),
    ]
    assert actions("--action", "outbox.note.q") == []  # a prefix is a whole dotted part
    # A bare --until date covers the whole (UK) day; a time without an offset is UK time.
    assert len(actions("--until", "2026-11-02")) == 5
    assert actions("--since", "2026-11-02T10:25", "--until", "2026-11-02T10:30") == [
        ("crm-events", "crm.case_event")
    ]
    assert actions("--since", "2026-11-03T00:00:00+00:00") == [("ella", "view_case")]


def test_reading_the_trail_is_audited_and_the_limit_is_reported(
    trail: dict[str, str], config: Path, store: Store
) -> None:
    output = _show(config, "--case", trail["portal_id"], "--limit", "2")
    assert output.splitlines()[-1] == "2 events (more match: narrow the filters or raise --limit)"
    with store.read() as conn:
        reads = conn.execute(
            sa.select(audit_events.c.actor, audit_events.c.subject_id).where(
                audit_events.c.action == "audit.viewed"
            )
        ).all()
        # The read is recorded apart from the case's own trail, so it does not pollute it.
        assert len(case_audit(conn, trail["portal_id"]).events) == 6
    assert [tuple(row) for row in reads] == [("cli:audit-show", trail["portal_id"])]


def test_a_case_no_longer_indexed_is_still_found_by_what_was_typed(
    trail: dict[str, str], config: Path, store: Store
) -> None:
    gone = str(uuid.uuid4())
    with store.write() as conn:
        record_event(
            conn,
            actor="mo",
            action="view_case",
            subject_type="case",
            subject_id=gone,
            detail={"outcome": "refused"},
        )
    output = _show(config, "--case", gone)
    assert "(not in the case index; matched the reference as typed)" in output
    assert "refused" in output and output.splitlines()[-1] == "1 event"
    nothing = _show(config, "--case", "NO-SUCH-REF")
    assert nothing.splitlines()[-1] == "No audit events match."


def test_bad_filters_and_missing_configuration_fail_with_a_readable_line(
    config: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    app = _app()
    bad = runner.invoke(
        app, ["audit", "show", "--case", "X", "--since", "last week", "-c", str(config)]
    )
    assert bad.exit_code == 1
    assert "--since 'last week' is not a date or time" in bad.output
    backwards = runner.invoke(
        app,
        [
            "audit",
            "show",
            "--case",
            "X",
            "--since",
            "2026-11-03",
            "--until",
            "2026-11-01",
            "-c",
            str(config),
        ],
    )
    assert backwards.exit_code == 1 and "is after --until" in backwards.output
    missing = runner.invoke(
        app, ["audit", "show", "--case", "X", "-c", str(tmp_path / "missing.toml")]
    )
    assert missing.exit_code == 1 and "no such configuration file" in missing.output
