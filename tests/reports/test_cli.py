"""`caseload report volumes|timeliness|scrutiny`: the same figures as the portal, for the
account named by --as, in every format, refused with one readable line when asked wrongly."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from portal_extensions.config import PORTAL_SECRET_ENV
from portal_extensions.store.database import Store
from portal_extensions.store.schema import audit_events
from tests.portal.web_fixtures import SECRET
from tests.store.seeding import ALL, seeded_store

PERIOD = ["--from", "2026-01-01", "--to", "2026-06-30"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli")
    database = folder / "caseload.sqlite"
    seeded_store(database, ALL).close()
    config = folder / "caseload.toml"
    config.write_text(
        f'database_url = "sqlite:///{database}"\n'
        '[portal]\ncouncil_name = "Northshire Council"\n'
        "[reports]\nsmall_count_threshold = 3\n"
    )
    return config, database


def _run(setup, *args: str, code: int = 0) -> str:
    config, _ = setup
    result = CliRunner().invoke(
        app, ["report", *args, "--config", str(config)], env={PORTAL_SECRET_ENV: SECRET}
    )
    assert result.exit_code == code, result.output
    return result.output


def test_volumes_as_a_table_and_as_csv(setup) -> None:
    shown = _run(setup, "volumes", "--as", "team_leader", *PERIOD)
    assert "Northshire" not in shown.splitlines()[0]  # the volumes heading names the period
    assert "Cases by ward" in shown and "Cases received and closed by month" in shown
    assert "Timeliness by service" not in shown
    rows = list(
        csv.reader(
            io.StringIO(
                _run(
                    setup,
                    "volumes",
                    "--as",
                    "team_leader",
                    *PERIOD,
                    "--format",
                    "csv",
                    "--table",
                    "volumes-by-ward",
                )
            )
        )
    )
    assert rows[0] == ["Ward", "Received", "Open", "Closed", "Overdue"]
    total = [int(n) for n in rows[-1][1:]]
    assert rows[-1][0] == "Total" and total[0] == sum(int(row[1]) for row in rows[1:-1])


def test_a_member_gets_their_own_figures_only(setup) -> None:
    mine = _run(
        setup,
        "volumes",
        "--as",
        "alice",
        *PERIOD,
        "--format",
        "csv",
        "--table",
        "volumes-by-member",
    )
    names = [row[0] for row in csv.reader(io.StringIO(mine))][1:-1]
    assert names == ["Alice"]


def test_timeliness_and_the_scrutiny_report_in_every_format(setup, tmp_path: Path) -> None:
    assert "Timeliness by service" in _run(setup, "timeliness", "--as", "officer_s1", *PERIOD)
    xlsx = tmp_path / "report.xlsx"
    _run(setup, "scrutiny", "--as", "team_leader", *PERIOD, "--format", "xlsx", "--out", str(xlsx))
    book = openpyxl.load_workbook(xlsx)
    assert "Cases by category" in book.sheetnames
    assert "withheld" in str(book["Cases by category"]["A4"].value)
    pdf = tmp_path / "report.pdf"
    _run(setup, "scrutiny", "--as", "team_leader", *PERIOD, "--format", "pdf", "--out", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF-")
    html = _run(setup, "scrutiny", "--as", "ms_alice", *PERIOD, "--format", "html")
    assert "<style>" in html and "@media print" in html  # a file that stands on its own
    assert "Counts from 1 to 2 are shown as [c]" in html  # [reports] small_count_threshold = 3
    internal = _run(
        setup, "scrutiny", "--as", "team_leader", *PERIOD, "--internal", "--format", "html"
    )
    assert "not for publication" in internal


def test_each_run_is_in_the_audit_trail(setup) -> None:
    _run(setup, "volumes", "--as", "team_leader", *PERIOD)
    _, database = setup
    store = Store.open(f"sqlite:///{database}")
    try:
        with store.read() as conn:
            rows = conn.execute(
                sa.select(audit_events.c.actor, audit_events.c.detail).where(
                    audit_events.c.action == "report.exported"
                )
            ).all()
    finally:
        store.close()
    assert rows and rows[-1].actor == "cli:report" and rows[-1].detail["as"] == "team_leader"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["volumes", "--as", "nobody"], "no active account 'nobody'"),
        (["volumes", "--as", "admin"], "admin has no volumes report"),
        (["scrutiny", "--as", "alice"], "alice has no scrutiny report"),
        (["volumes", "--as", "team_leader", "--format", "pdf", "--out", "x"], "scrutiny report"),
        (["scrutiny", "--as", "team_leader", "--format", "xlsx"], "needs --out FILE"),
        (["volumes", "--as", "team_leader", "--from", "2026-13-01"], "Enter a real date"),
        (["volumes", "--as", "team_leader", "--ward", "nowhere"], "ward: Choose one"),
        (["scrutiny", "--as", "team_leader", "--ward", "W1"], "takes no filters"),
        (["volumes", "--as", "team_leader", "--table", "nope"], "no table 'nope'"),
    ],
)
def test_wrong_requests_fail_with_one_readable_line(setup, args, message) -> None:
    assert message in _run(setup, *args, code=1)
