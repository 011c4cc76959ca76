"""Directory import, settings, and the `sync` / `status` / `directory import` commands."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from ruamel.yaml import YAML
from typer.testing import CliRunner

from cli import store_cmd
from mappings.model import MemberCase
from portal_extensions.directory import DirectoryError, import_directory, read_directory_file
from portal_extensions.store import Store
from portal_extensions.store.outbox import queue_create_case
from portal_extensions.store.schema import members, parties, services
from tests.store.index_lookup import get_case

HEADER = (
    "record,id,name,party_id,ward_id,email,phone,service_id,member_officer_id,"
    "response_target_working_days"
)
CSV = f"""{HEADER}
party,grn,Green Party,,,,,,,
ward,ward-01,Abbey,,,,,,,
officer,off-1,Deepa Morgan,,,deepa@council.example,01632 960000,svc-1,,
service,svc-1,Roads,,,,,,off-1,10
member,cllr-1,Cllr Ella Singh,grn,ward-01,ella@council.example,,,,
"""


def test_sandbox_directory_export_imports_as_yaml(store: Store, sandbox_crm, tmp_path) -> None:
    path = tmp_path / "directory.yaml"
    with path.open("w") as fh:
        YAML(typ="safe", pure=True).dump(sandbox_crm.directory(), fh)
    report = import_directory(store, read_directory_file(path), actor="test")
    exported = sandbox_crm.directory()
    assert report.members == len(exported["members"]) and report.services == len(
        exported["services"]
    )
    first = exported["members"][0]
    with store.read() as conn:
        party = conn.execute(
            sa.select(parties.c.name)
            .select_from(members.join(parties, members.c.party_id == parties.c.id))
            .where(members.c.id == first["id"])
        ).scalar_one()
        target = conn.execute(
            sa.select(services.c.response_target_working_days).where(
                services.c.id == exported["services"][0]["id"]
            )
        ).scalar_one()
    assert party == first["party"]
    assert target == exported["services"][0]["response_target_working_days"]
    again = import_directory(store, read_directory_file(path), actor="test")  # idempotent
    assert again == report


def test_csv_directory_imports_and_a_bad_line_changes_nothing(store: Store, tmp_path) -> None:
    good = tmp_path / "directory.csv"
    good.write_text(CSV)
    assert import_directory(store, read_directory_file(good), actor="t").members == 1
    bad = tmp_path / "bad.csv"
    bad.write_text(
        CSV + "member,cllr-2,Cllr Two,grn,ward-99,,,,,\nservice,svc-2,Parks,,,,,,off-9,5\n"
    )
    with pytest.raises(DirectoryError) as caught:
        read_directory_file(bad)
    text = str(caught.value)
    assert "bad.csv line 7: ward_id 'ward-99'" in text
    assert "bad.csv line 8: member_officer_id 'off-9'" in text


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_show_locals=False)
    store_cmd.register(app)
    app.add_typer(store_cmd.directory_app, name="directory")
    app.add_typer(store_cmd.outbox_app, name="outbox")
    return app


@pytest.mark.sandbox_crm(cases=60, seed=2)
def test_cli_sync_status_and_directory_import(
    sandbox_crm_server, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", sandbox_crm_server.password)
    monkeypatch.delenv("CASELOAD_DATABASE_URL", raising=False)
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "[crm]\n"
        'kind = "lagan"\n'
        f'endpoint = "{sandbox_crm_server.fl_url}"\n'
        f'auth_endpoint = "{sandbox_crm_server.flauth_url}"\n'
        'allowed_hosts = ["127.0.0.1"]\n'
        f'username = "{sandbox_crm_server.username}"\n'
    )
    runner = CliRunner()
    app = _app()
    synced = runner.invoke(app, ["sync", "--config", str(config)])
    assert synced.exit_code == 0, synced.output
    assert synced.stdout.startswith("synced 60 cases in ")  # the log goes to stderr
    status = runner.invoke(app, ["status", "--json", "--config", str(config)])
    assert status.exit_code == 0, status.output
    report = json.loads(status.stdout)
    assert report["index_size"] == 60 and report["sync"]["watermark"] is not None
    assert report["outbox"] == {"queued": 0, "sent": 0, "confirmed": 0, "needs_attention": 0}
    assert report["crm"]["ok"] is True
    human = runner.invoke(app, ["status", "--config", str(config)])
    assert "60 cases" in human.output and "healthy" in human.output
    directory = tmp_path / "directory.csv"
    directory.write_text(CSV)
    imported = runner.invoke(app, ["directory", "import", str(directory), "--config", str(config)])
    assert imported.exit_code == 0 and "1 members" in imported.output
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'caseload.sqlite'}")
    with store.read() as conn:
        seeded = get_case(conn, crm_reference="101000000002")
    assert seeded is not None
    fresh = MemberCase.model_validate(
        {**seeded.model_dump(), "portal_id": str(uuid.uuid4()), "crm_reference": None}
    )
    with store.write() as conn:
        queue_create_case(conn, fresh, actor="cli-test")
    store.close()
    sent = runner.invoke(app, ["outbox", "send", "--config", str(config)])
    assert sent.exit_code == 0 and "confirmed 1" in sent.output, sent.output
    assert sandbox_crm_server.count_cases(PortalId=str(fresh.portal_id)) == 1
    broken = runner.invoke(app, ["sync", "--config", str(tmp_path / "missing.toml")])
    assert broken.exit_code == 1 and "no such configuration file" in broken.output


def _import_cli(path: Path, tmp_path: Path) -> str:
    """`caseload directory import PATH` with a configuration that names only the data dir."""
    from cli.main import app

    config = tmp_path / "caseload.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    result = CliRunner().invoke(app, ["directory", "import", str(path), "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_sandbox_json_export_imports_as_it_is_printed(tmp_path: Path, monkeypatch) -> None:
    from cli.main import app

    monkeypatch.delenv("CASELOAD_DATABASE_URL", raising=False)
    printed = CliRunner().invoke(app, ["sandbox", "directory", "--seed", "3"])
    assert printed.exit_code == 0, printed.output
    exported = json.loads(printed.output)
    path = tmp_path / "directory.json"
    path.write_text(printed.output)
    output = _import_cli(path, tmp_path)
    assert (
        f"imported {len(exported['wards'])} wards, {len(exported['parties'])} parties, "
        f"{len(exported['members'])} members, {len(exported['services'])} services, "
        f"{len(exported['officers'])} officers"
    ) in output
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'caseload.sqlite'}")
    try:
        with store.read() as conn:
            member_ids = set(conn.execute(sa.select(members.c.id)).scalars())
    finally:
        store.close()
    assert member_ids == {m["id"] for m in exported["members"]}


def test_the_example_directory_file_in_the_docs_imports(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CASELOAD_DATABASE_URL", raising=False)
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "directory.yaml"
    output = _import_cli(example, tmp_path)
    assert "imported 2 wards, 5 parties, 3 members, 2 services, 2 officers" in output
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'caseload.sqlite'}")
    try:
        with store.read() as conn:
            party = conn.execute(
                sa.select(parties.c.name)
                .select_from(members.join(parties, members.c.party_id == parties.c.id))
                .where(members.c.id == "cllr-0003")
            ).scalar_one()
            officer = conn.execute(
                sa.select(services.c.member_officer_id).where(services.c.id == "svc-waste")
            ).scalar_one()
    finally:
        store.close()
    assert party == "Green"  # given by name, found by id
    assert officer == "off-002"


def test_a_json_directory_file_that_is_not_json_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    path.write_text('{\n  "wards": [\n    {"id": "ward-01", "name": "Abbey",}\n  ]\n}\n')
    with pytest.raises(DirectoryError, match=r"(?s)directory\.json.*not valid JSON.*line 3"):
        read_directory_file(path)
    path.write_text('["not", "a", "mapping"]')
    with pytest.raises(DirectoryError, match="top level must be a mapping"):
        read_directory_file(path)
    other = tmp_path / "directory.txt"
    other.write_text("wards: []")
    with pytest.raises(DirectoryError, match=r"\.csv, \.yaml, \.yml or \.json"):
        read_directory_file(other)
