"""`caseload mappings validate | preview | diff | init`, driven through typer's CliRunner."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from mappings import bundled_profiles
from tests.mappings.conftest import FIXTURES

runner = CliRunner()
LAGAN = str(bundled_profiles()["lagan"])
DYNAMICS = str(bundled_profiles()["dynamics365"])


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["mappings", *args])
    return result.exit_code, result.output


def test_validate_accepts_the_bundled_profiles() -> None:
    code, output = run("validate", LAGAN, DYNAMICS)
    assert code == 0
    assert output.splitlines() == [f"{LAGAN}: ok", f"{DYNAMICS}: ok"]


def test_validate_accepts_bundled_profile_names() -> None:
    code, output = run("validate", "lagan")
    assert code == 0
    assert output == f"{LAGAN}: ok\n"


def test_validate_a_misspelt_field_exits_1_and_names_the_line(tmp_path: Path) -> None:
    text = (
        Path(LAGAN)
        .read_text(encoding="utf-8")
        .replace("\n  status:\n    path:", "\n  staus:\n    path:")
    )
    bad = tmp_path / "lagan.yaml"
    bad.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  staus:") + 1
    code, output = run("validate", str(bad))
    assert code == 1
    assert f"{bad}:{line}:3: fields.staus: unknown field `staus`: did you mean `status`?" in output
    assert output.rstrip().endswith(f"{bad}: invalid (1 problem)")


def test_validate_a_broken_indent_exits_1_and_names_the_line(tmp_path: Path) -> None:
    lines = Path(LAGAN).read_text(encoding="utf-8").splitlines()
    index = lines.index("      open: open")
    lines[index] = "       open: open"  # one space too deep
    bad = tmp_path / "indent.yaml"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, output = run("validate", str(bad))
    assert code == 1
    line = index + 1
    assert (
        f"{bad}:{line}:8: YAML syntax error: bad indentation: line {line} is indented 7 spaces,"
        f" deeper than line {line - 1} (6), which does not end in `:` and so opens no block:"
        f" indent line {line} like line {line - 1}, or end line {line - 1} with `:` if it names"
        " a block"
    ) in output


def test_validate_reports_every_file_and_every_problem(tmp_path: Path) -> None:
    text = (
        Path(DYNAMICS)
        .read_text(encoding="utf-8")
        .replace("path: title", "path: titel")
        .replace("value_map: sharing", "value_map: shaaring")
    )
    bad = tmp_path / "dyn.yaml"
    bad.write_text(text, encoding="utf-8")
    code, output = run("validate", LAGAN, str(bad))
    assert code == 1
    assert f"{LAGAN}: ok" in output
    assert "did you mean `title`?" in output
    assert "value map `shaaring` is not defined: did you mean `sharing`?" in output
    assert f"{bad}: invalid (2 problems)" in output


def test_preview_prints_a_table_of_the_caseload_record() -> None:
    code, output = run("preview", LAGAN, "--record", str(FIXTURES / "lagan_case.json"))
    assert code == 0
    assert "with_service" in output
    assert "Form.FormField[Key=MemberId].Value" in output  # brackets survive rich markup
    assert "constituent.location.postcode" in output and "FM3 4AB" in output


def test_preview_json_is_the_caseload_record() -> None:
    code, output = run(
        "preview", "dynamics365", "--record", str(FIXTURES / "dynamics365_case.json"), "--json"
    )
    assert code == 0
    case = json.loads(output)
    assert case["status"] == "closed" and case["channel"] == "email"


def test_preview_reads_a_lagan_soap_envelope() -> None:
    code, output = run("preview", "lagan", "--record", str(FIXTURES / "lagan_case.xml"), "--json")
    assert code == 0
    assert json.loads(output)["crm_reference"] == "101000002951"


def test_preview_lists_every_problem_of_an_unmappable_record(tmp_path: Path) -> None:
    raw = json.loads((FIXTURES / "dynamics365_case.json").read_text(encoding="utf-8"))
    raw["statuscode"] = 100000099
    raw["caseorigincode"] = 99
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    code, output = run("preview", "dynamics365", "--record", str(path))
    assert code == 1
    assert "record 0b6f1f7e-2c3d-4a5b-8c9d-0e1f2a3b4c5d cannot be mapped (2 problems):" in output
    assert (
        "status (statuscode): CRM value '100000099' has no mapping in value map `status`" in output
    )
    assert (
        "channel (caseorigincode): CRM value '99' has no mapping in value map `channel`" in output
    )


def test_preview_refuses_xml_with_a_doctype(tmp_path: Path) -> None:
    path = tmp_path / "evil.xml"
    path.write_bytes(b'<!DOCTYPE x [<!ENTITY e "boom">]><FWTCaseFullDetails/>')
    code, output = run("preview", "lagan", "--record", str(path))
    assert code == 1
    assert "DOCTYPE is refused" in output


def test_preview_with_an_invalid_mapping_prints_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("crm: lagan\n", encoding="utf-8")
    code, output = run("preview", str(bad), "--record", str(FIXTURES / "lagan_case.json"))
    assert code == 1
    assert "missing required key `record`" in output


def test_diff_of_a_file_with_itself_reports_no_changes() -> None:
    code, output = run("diff", LAGAN, LAGAN)
    assert code == 0
    assert output.strip() == "no mapping changes"


def test_diff_shows_added_removed_and_changed_fields_and_mapped_output(
    tmp_path: Path, write_mapping: Callable[[str, str], Path]
) -> None:
    text = Path(LAGAN).read_text(encoding="utf-8")
    changed = (
        text.replace("      Surgery: surgery\n", "      Surgery: street\n      Street: street\n")
        .replace("      face_to_face: street\n", "      face_to_face: surgery\n")
        .replace(
            "  closure_reason:\n    path: Form.FormField[Key=ClosureReason].Value\n",
            "  special_category:\n    path: Form.FormField[Key=SpecialCategory].Value\n"
            "    default: false\n",
        )
        .replace(
            "    path: CoreDetails.Description\n",
            "    path: CoreDetails.Description\n    required: true\n",
        )
    )
    new = write_mapping(changed, "new.yaml")
    records = tmp_path / "records"
    records.mkdir()
    shutil.copy(FIXTURES / "lagan_case.json", records / "a.json")
    shutil.copy(FIXTURES / "lagan_case.xml", records / "b.xml")
    code, output = run("diff", LAGAN, str(new), "--records", str(records))
    assert code == 0
    assert "+ fields.special_category:" in output
    assert "- fields.closure_reason" in output
    assert "~ fields.description: required (unset) -> true" in output
    assert (
        '~ value_maps.channel: outbound.street "face_to_face" -> "Surgery";'
        ' outbound.surgery "Surgery" -> "face_to_face"; values.Street (unset) -> "street";'
        ' values.Surgery "surgery" -> "street"; values.face_to_face "street" -> "surgery"'
    ) in output
    assert "a.json: 1 mapped field(s) change" in output
    assert '  channel: "surgery" -> "street"' in output
    assert "b.xml: 1 mapped field(s) change" in output


def test_init_writes_a_commented_starter_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "council.yaml"
    code, output = run("init", "--profile", "dynamics365", "--output", str(target))
    assert code == 0
    assert f"wrote {target}" in output
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Starter mapping for dynamics365")
    assert run("validate", str(target)) == (0, f"{target}: ok\n")


def test_init_prints_to_stdout_without_an_output_file() -> None:
    code, output = run("init", "--profile", "lagan")
    assert code == 0
    assert "crm: lagan" in output and output.startswith("# Starter mapping for lagan")


def test_init_will_not_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "council.yaml"
    target.write_text("keep me", encoding="utf-8")
    code, output = run("init", "--profile", "lagan", "--output", str(target))
    assert code == 1
    assert "exists; pass --force" in output
    assert target.read_text(encoding="utf-8") == "keep me"
    assert run("init", "--profile", "lagan", "--output", str(target), "--force")[0] == 0


def test_init_refuses_an_unknown_profile() -> None:
    code, output = run("init", "--profile", "salesforce")
    assert code == 2
    assert "choose one of dynamics365, lagan" in output
