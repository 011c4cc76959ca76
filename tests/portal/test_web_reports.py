"""The Reports and scrutiny pages over HTTP: what each role is shown, the files (CSV, XLSX,
printable HTML, PDF), the JSON beside each page, and bad input refused field by field."""

from __future__ import annotations

import csv
import io
import re
import warnings

import openpyxl
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.portal.conftest import sign_in
from tests.portal.web_fixtures import build

PERIOD = "from=2026-01-01&to=2026-06-15"


@pytest.fixture(scope="module")
def app():
    return build(reindex=False).app


def _client(app, who: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    assert sign_in(client, who).status_code == 303
    return client


def _table_ids(html: str) -> list[str]:
    return re.findall(r'<table class="govuk-table caseload-report-table" id="([^"]+)"', html)


@pytest.mark.parametrize(
    ("who", "sections"),
    [
        ("alice", {"volumes-by-ward", "trend-by-month", "timeliness-by-service", "totals"}),
        ("ms_alice", {"volumes-by-ward", "trend-by-month", "timeliness-by-service"}),
        ("team_leader", {"volumes-by-category", "trend-by-month", "timeliness-by-service"}),
        ("officer_s1", {"timeliness-by-service"}),
    ],
)
def test_each_role_sees_its_own_figures_with_charts_beside_the_tables(app, who, sections) -> None:
    client = _client(app, who)
    page = client.get(f"/reports?{PERIOD}")
    assert page.status_code == 200
    shown = set(re.findall(r'aria-labelledby="([^"]+)-heading"', page.text))
    assert sections <= shown
    if who == "officer_s1":
        assert shown == {"timeliness-by-service"}
    assert "totals" not in shown or who == "alice"
    # Every chart is an SVG image with an accessible name, followed by its table.
    charts = re.findall(r'<img src="data:image/svg\+xml;base64,[^"]+" alt="([^"]+)"', page.text)
    assert all("The figures are in the table that follows" in alt for alt in charts)
    # (the fixture council's cases carry no service request: timeliness has nothing to draw)
    assert (len(charts) >= 7) == (who != "officer_s1")
    for section in page.text.split("<section")[1:]:
        if "<img" in section:
            assert section.index("<img") < section.index("<table")
    assert "<script" not in page.text.split("</main>")[0].split("<main")[1]


def test_a_member_never_sees_another_members_name_in_their_figures(app) -> None:
    page = _client(app, "alice").get(f"/reports?{PERIOD}")
    by_member = page.text.split('id="volumes-by-member"')[1].split("</table>")[0]
    assert "Cllr Alice" in by_member and "Cllr Bob" not in by_member


def test_csv_and_xlsx_hold_the_pages_figures(app) -> None:
    client = _client(app, "team_leader")
    page = client.get(f"/reports?{PERIOD}").text
    csv_file = client.get(f"/reports/files/volumes-by-ward.csv?{PERIOD}")
    assert csv_file.status_code == 200
    assert csv_file.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_file.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(csv_file.text)))
    assert rows[0] == ["Ward", "Received", "Open", "Closed", "Overdue"]
    table = page.split('id="volumes-by-ward"')[1].split("</table>")[0]
    for label, *figures in rows[1:]:
        cells = re.search(rf">{re.escape(label)}</th>(.*?)</tr>", table, re.DOTALL)
        assert cells is not None, label
        assert re.findall(r">([^<]+)</td>", cells.group(1)) == figures
    workbook = client.get(f"/reports/files/report.xlsx?{PERIOD}")
    assert workbook.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(workbook.content))
    assert "Cases by ward" in book.sheetnames and "Timeliness by service" in book.sheetnames
    assert client.get(f"/reports/files/no-such-table.csv?{PERIOD}").status_code == 404


def test_bad_filters_are_refused_beside_each_field_and_nothing_is_computed(app) -> None:
    client = _client(app, "team_leader")
    page = client.get("/reports?from=2026-02-30&ward=nowhere")
    assert page.status_code == 400
    assert "There is a problem" in page.text
    assert 'href="#from"' in page.text and 'href="#ward"' in page.text
    assert "caseload-report-table" not in page.text
    api = client.get("/api/v1/reports?from=2026-06-01&to=2026-05-01")
    assert api.status_code == 422
    assert api.json()["fields"] == {"to": "The end of the period must be on or after its start"}


def test_the_json_endpoint_gives_the_same_tables(app) -> None:
    client = _client(app, "alice")
    found = client.get(f"/api/v1/reports?{PERIOD}").json()
    assert found["period"] == {"from": "2026-01-01", "to": "2026-06-15"}
    keys = [table["key"] for table in found["tables"]]
    assert "volumes-by-ward" in keys and "totals" in keys


def test_the_scrutiny_report_is_printable_html_pdf_and_xlsx(app) -> None:
    client = _client(app, "team_leader")
    page = client.get("/reports/scrutiny?from=2026-01-01&to=2026-06-15")
    assert page.status_code == 200
    assert "Published version" in page.text and "[c]" in page.text
    assert "volumes-by-member" not in page.text  # never by councillor
    printable = client.get("/reports/scrutiny/files/scrutiny.html?from=2026-01-01&to=2026-06-15")
    assert printable.status_code == 200
    assert '<link rel="stylesheet" href="/assets/report.css">' in printable.text
    assert "@media print" in client.get("/assets/report.css").text
    pdf = client.get("/reports/scrutiny/files/scrutiny.pdf?from=2026-01-01&to=2026-06-15")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    internal = client.get("/reports/scrutiny?from=2026-01-01&to=2026-06-15&version=internal")
    assert "For internal use: not for publication" in internal.text
    assert client.get("/api/v1/reports/scrutiny").json()["published"] is True


def test_a_scrutiny_report_has_no_personal_data(app) -> None:
    from tests.portal.web_fixtures import CASES

    client = _client(app, "team_leader")
    for version in ("published", "internal"):
        text = client.get(f"/reports/scrutiny/files/scrutiny.html?{PERIOD}&version={version}").text
        for case in CASES:
            assert case.title not in text
            assert case.constituent.surname not in text
            assert str(case.portal_id) not in text


def test_without_pango_the_pdf_is_refused_in_plain_words(app, monkeypatch) -> None:
    import sys
    import types

    broken = types.ModuleType("weasyprint")

    def missing(name: str) -> object:
        raise OSError("cannot load library 'libpango-1.0-0'")

    broken.__getattr__ = missing  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "weasyprint", broken)
    client = _client(app, "team_leader")
    answer = client.get(f"/reports/scrutiny/files/scrutiny.pdf?{PERIOD}")
    assert answer.status_code == 503
    assert "The PDF cannot be made on this server" in answer.text
    assert client.get(f"/reports/scrutiny/files/scrutiny.html?{PERIOD}").status_code == 200
