"""The root `caseload` command lists every area an administrator needs."""

from typer.testing import CliRunner

from cli.main import app


def test_root_help_lists_every_area() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for area in (
        "mappings",
        "sandbox",
        "crm",
        "directory",
        "outbox",
        "sync",
        "status",
        "serve",
        "demo",
    ):
        assert area in result.output
