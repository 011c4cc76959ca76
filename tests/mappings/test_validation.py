"""Mapping-file validation: every problem named with file, line, column, field and a way out."""

from __future__ import annotations

import pytest

from mappings import MappingFileError, load_mapping, load_profile, parse_mapping, validate_file
from mappings.errors import ProfileNotFoundError
from tests.mappings.conftest import MINIMAL_DYNAMICS, messages_of, problems_of


def with_fields(extra: str) -> str:
    return MINIMAL_DYNAMICS + extra


def test_the_minimal_mapping_is_valid() -> None:
    assert problems_of(MINIMAL_DYNAMICS) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MINIMAL_DYNAMICS.replace("  title:\n", "  title:\n    path: title\n  staus:\n", 1),
            "test.yaml:21:3: fields.staus: unknown field `staus`: did you mean `status`?",
            id="misspelt-caseload-field",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("    path: title\n", "    pathh: title\n"),
            "test.yaml:20:5: fields.title.pathh: unknown key `pathh` in fields.title:"
            " did you mean `path`?",
            id="misspelt-setting",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("value_map: channel", "value_map: chanel"),
            "test.yaml:23:16: fields.channel.value_map: value map `chanel` is not defined:"
            " did you mean `channel`?",
            id="undefined-value-map",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("      2: email\n", "      2: emial\n"),
            "test.yaml:8:10: value_maps.channel.values.2: value map `channel` maps `2` to `emial`,"
            " which is not a valid `channel` (used by `fields.channel`; choose one of surgery,"
            " email, phone, letter, street, online): did you mean `email`?",
            id="value-map-target-not-an-enum-value",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("    unmapped: error\n", "    unmapped: {default: emial}\n"),
            "test.yaml:5:15: value_maps.channel.unmapped: value map `channel` maps `(unmapped)` to"
            " `emial`, which is not a valid `channel` (used by `fields.channel`; choose one of"
            " surgery, email, phone, letter, street, online): did you mean `email`?",
            id="unmapped-default-not-an-enum-value",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("    unmapped: error\n", ""),
            "test.yaml:4:3: value_maps.channel: missing required key `unmapped`",
            id="value-map-without-explicit-policy",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("    unmapped: error\n", "    unmapped: ignore\n"),
            "test.yaml:5:15: value_maps.channel.unmapped: unknown unmapped policy 'ignore':"
            " use `error`, `keep_raw` or `default: X`",
            id="unknown-policy",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace(
                "    path: createdon\n    direction: inbound\n", "    path: createdon\n"
            ),
            "test.yaml:25:11: fields.received_at.path: outbound path `createdon` is not writable in"
            " Dynamics 365: Dataverse column `createdon` is read-only: add `direction: inbound`,"
            " or give `outbound: {path: ...}`",
            id="outbound-path-read-only",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("path: title", "path: titel"),
            "test.yaml:20:11: fields.title.path: CRM path `titel` cannot be read: `titel` is"
            " neither an `incidents` column nor a prefixed custom column: did you mean `title`?",
            id="unknown-dataverse-column",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("  title:\n    path: title\n", ""),
            "test.yaml:9:1: fields: required caseload field `title` has no inbound mapping:"
            " add `fields.title` with a `path`, a `compute` or a `default`",
            id="required-model-field-unmapped",
        ),
        pytest.param(
            with_fields("  authority.scope:\n    path: cr_scope\n"),
            "test.yaml:9:1: fields: required caseload field `authority.recorded_by` has no"
            " inbound mapping: add `fields.authority.recorded_by` with a `path`, a `compute`"
            " or a `default`",
            id="partly-mapped-submodel-needs-its-required-fields",
        ),
        pytest.param(
            with_fields("  acknowledged_at:\n    path: cr_ack\n    type: bool\n"),
            "test.yaml:29:11: fields.acknowledged_at.type: type `bool` cannot fill caseload field"
            " `acknowledged_at` (a datetime): use `type: datetime` or leave `type` out",
            id="incompatible-type",
        ),
        pytest.param(
            with_fields("  priority:\n    path: cr_priority\n    default: hihg\n"),
            "test.yaml:29:14: fields.priority.default: default `hihg` is not a valid priority"
            " (choose one of low, normal, high, urgent): did you mean `high`?",
            id="default-not-an-enum-value",
        ),
        pytest.param(
            with_fields("  special_category:\n    path: cr_sc\n    default: maybe\n"),
            "test.yaml:29:14: fields.special_category.default: default is not a boolean"
            ' (expected "0"/"1" or "true"/"false")',
            id="default-of-the-wrong-type",
        ),
        pytest.param(
            with_fields("  acknowledged_at:\n    path: cr_ack\n    timezone: Mars/Olympus\n"),
            "test.yaml:29:15: fields.acknowledged_at.timezone: unknown time zone `Mars/Olympus`:"
            " use an IANA name like `Europe/London`",
            id="unknown-zone",
        ),
        pytest.param(
            with_fields("  service_id:\n    compute: {op: first_of, paths: [cr_a, cr_b]}\n"),
            "test.yaml:28:14: fields.service_id.compute: a computed field cannot be written back to"
            " the CRM: add `direction: inbound`, or name where it is written (`outbound.path`)",
            id="computed-field-outbound",
        ),
        pytest.param(
            with_fields("  service_id:\n    compute: {op: first_of, paths: [cr_a]}\n"),
            "test.yaml:28:14: fields.service_id.compute: `op: first_of` needs at least two `paths`"
            " (one is enough with `when`)",
            id="compute-operands",
        ),
        pytest.param(
            with_fields(
                "  service_id:\n    compute: {op: template, template: '{cr_a!r}'}\n"
                "    direction: inbound\n"
            ),
            "test.yaml:28:39: fields.service_id.compute.template: placeholder `{cr_a}` may not"
            " carry a format or conversion",
            id="template-placeholder-with-conversion",
        ),
        pytest.param(
            with_fields(
                "  service_id:\n    compute: {op: first_of, paths: [cr_a],"
                " when: {path: statuz, equals: [x]}}\n    direction: inbound\n"
            ),
            "test.yaml:28:57: fields.service_id.compute.when.path: CRM path `statuz` cannot be"
            " read: `statuz` is neither an `incidents` column nor a prefixed custom column:"
            " did you mean `statuscode`?",
            id="when-path-unreadable",
        ),
        pytest.param(
            with_fields(
                "  service_id:\n    path: cr_a\n    compute: {op: first_of, paths: [a_b, c_d]}\n"
            ),
            "test.yaml:28:5: fields.service_id: give either `path` or `compute`, not both",
            id="path-and-compute",
        ),
        pytest.param(
            with_fields("  service_id:\n    direction: outbound\n"),
            "test.yaml:28:5: fields.service_id: a field needs a `path`, a `compute` or a `default`",
            id="no-source",
        ),
        pytest.param(
            with_fields("  description:\n    path: title\n"),
            "test.yaml:28:11: fields.description.path: outbound path `title` is also written by"
            " `title`: give one of them `direction: inbound`",
            id="two-fields-write-one-path",
        ),
        pytest.param(
            with_fields("  service_id:\n    path: 'Form.FormField[Key=X]'\n"),
            "test.yaml:28:11: fields.service_id.path: bad CRM path: path `Form.FormField[Key=X]`"
            " ends in a selection: name the key to read, e.g. `Form.FormField[Key=X].Value`",
            id="path-syntax",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("crm: dynamics365", "crm: lagn"),
            "test.yaml:1:6: crm: unknown CRM `lagn`: mappings has a schema for 'dynamics365'"
            " or 'lagan': did you mean `lagan`?",
            id="unknown-crm",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("crm: dynamics365\n", ""),
            "test.yaml:1:1: missing required key `crm`",
            id="missing-crm",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("      2: email\n", "      2: email\n      '2': phone\n"),
            "test.yaml:9:7: value_maps.channel.values.2: CRM code `2` is listed twice"
            " (as 2 and '2')",
            id="code-listed-twice",
        ),
        pytest.param(
            with_fields("outbound_constants:\n  createdon: x\n"),
            "test.yaml:28:3: outbound_constants.createdon: `createdon` is not writable in"
            " Dynamics 365: Dataverse column `createdon` is read-only: bind lookups with"
            " `<name>@odata.bind`, or make the field `direction: inbound`",
            id="constant-not-writable",
        ),
        pytest.param(
            MINIMAL_DYNAMICS.replace("  ward_id:\n", "  member_id:\n    path: x_y\n  ward_id:\n"),
            "test.yaml:12:3: duplicate key `member_id`: a key may appear once in a block:"
            " merge the two entries",
            id="duplicate-key",
        ),
        pytest.param(
            "- a\n- b\n",
            "test.yaml:1:1: a mapping file must be a YAML mapping (`crm: ...`)",
            id="not-a-mapping",
        ),
    ],
)
def test_each_problem_is_reported_with_its_position_and_advice(text: str, expected: str) -> None:
    assert expected in messages_of(text)


def test_lagan_paths_are_checked_against_the_fl_schema() -> None:
    text = MINIMAL_DYNAMICS.replace("crm: dynamics365", "crm: lagan")
    messages = messages_of(text)
    assert (
        "test.yaml:11:11: fields.member_id.path: CRM path `cr_memberid` cannot be read:"
        " FWTCaseFullDetails has no element `cr_memberid`: expected one of CoreDetails, EformData,"
        " Eforms, Events, Form, Interactions, LinkCases, Notes, Tasks, Workflow"
    ) in messages


def test_lagan_core_details_typo_gets_a_suggestion() -> None:
    lagan_text = MINIMAL_DYNAMICS.replace("crm: dynamics365", "crm: lagan").replace(
        "path: title", "path: CoreDetails.Titel\n    outbound: {path: Title}"
    )
    assert (
        "test.yaml:20:11: fields.title.path: CRM path `CoreDetails.Titel` cannot be read:"
        " FWTCaseFullDetails has no element `Titel` under `CoreDetails`: did you mean `Title`?"
    ) in messages_of(lagan_text)


def test_lagan_status_cannot_be_written_through_create_or_update() -> None:
    text = MINIMAL_DYNAMICS.replace("crm: dynamics365", "crm: lagan").replace(
        "path: title", "path: CoreDetails.Title\n    outbound: {path: Status}"
    )
    assert (
        "test.yaml:21:22: fields.title.outbound.path: outbound path `Status` is not writable in"
        " Lagan FL: FWTCaseCreate has no element `Status`: add `direction: inbound`, or give"
        " `outbound: {path: ...}`"
    ) in messages_of(text)


def test_all_problems_of_a_file_come_in_one_run_in_line_order() -> None:
    text = (
        MINIMAL_DYNAMICS.replace("value_map: channel", "value_map: chanel")
        .replace("path: title", "path: titel")
        .replace("  ward_id:\n", "  wrad_id:\n")
    )
    problems = problems_of(text)
    assert [p.field for p in problems] == [
        "fields.wrad_id",
        "fields.title.path",
        "fields.channel.value_map",
    ]
    assert problems[0].message == "unknown field `wrad_id`"  # and not also "ward_id missing"
    assert problems[0].suggestion == "did you mean `ward_id`?"
    assert [p.line for p in problems] == sorted(p.line for p in problems)


def test_a_broken_indent_names_the_line_to_fix() -> None:
    text = MINIMAL_DYNAMICS.replace("      2: email\n", "       2: email\n")
    broken = MINIMAL_DYNAMICS.replace(
        "  member_id:\n    path: cr_memberid\n",
        "  member_id:\n     path: cr_memberid\n    required: true\n",
    )
    (problem,) = problems_of(broken)
    assert (problem.line, problem.column) == (12, 5)
    assert problem.message == "YAML syntax error: bad indentation"
    assert problem.suggestion == (
        "line 12 is indented 4 spaces, which lines up with no line above it (line 11 is"
        " indented 5, line 10 is indented 2): give it the indentation of the lines of the block"
        " it belongs to"
    )
    (deeper,) = problems_of(text)
    assert (deeper.line, deeper.column) == (8, 8)
    assert deeper.suggestion is not None
    assert deeper.suggestion.startswith("line 8 is indented 7 spaces, deeper than line 7 (6)")


def test_a_dedent_to_no_block_names_the_block_it_misses() -> None:
    broken = MINIMAL_DYNAMICS.replace("  member_id:\n", "   member_id:\n")
    (problem,) = problems_of(broken)
    assert (problem.line, problem.column) == (12, 3)
    assert problem.suggestion == (
        "line 12 is indented 2 spaces, which lines up with no line above it (line 10 is"
        " indented 3, line 9 is indented 0): give it the indentation of the lines of the block"
        " it belongs to"
    )


def test_a_key_without_its_colon_says_so() -> None:
    broken = MINIMAL_DYNAMICS.replace("  member_id:\n", "  member_id\n")
    (problem,) = problems_of(broken)
    assert problem.line == 11
    assert problem.suggestion is not None
    assert problem.suggestion.endswith("or end line 10 with `:` if it names a block")


def test_yaml_syntax_error_is_a_problem_not_a_traceback() -> None:
    (problem,) = problems_of("crm: lagan\nrecord: [member_case\n")
    assert problem.line == 3
    assert problem.message == "YAML syntax error: a `[` list is not closed"
    assert problem.suggestion == "end the list with `]`"


def test_a_tab_indent_is_named_in_plain_words() -> None:
    (problem,) = problems_of("crm: lagan\nrecord: member_case\nfields:\n\ttitle:\n")
    assert (problem.line, problem.column) == (4, 1)
    assert problem.message == (
        "YAML syntax error: a tab or a stray character where YAML expects text"
    )


def test_validate_file_and_load_mapping_agree(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MINIMAL_DYNAMICS.replace("path: title", "path: titel"), encoding="utf-8")
    problems = validate_file(path)
    assert [p.file for p in problems] == [str(path)]
    with pytest.raises(MappingFileError) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(f"{path}: 1 problem\n  {path}:20:11: fields.title.path:")


def test_an_unreadable_file_is_a_problem(tmp_path) -> None:
    (problem,) = validate_file(tmp_path / "missing.yaml")
    assert problem.message == "cannot read the file (No such file or directory)"


def test_unknown_profile_name_suggests_a_bundled_one() -> None:
    with pytest.raises(ProfileNotFoundError, match="did you mean `lagan`"):
        load_profile("lagna")


def test_x_keys_hold_anchors_that_fields_reuse() -> None:
    text = MINIMAL_DYNAMICS.replace(
        "fields:\n", "x-inbound: &inbound\n  direction: inbound\nfields:\n"
    ) + ("  service_id:\n    <<: *inbound\n    path: cr_serviceid\n")
    mapping = parse_mapping(text)
    assert mapping.field_specs["service_id"].direction == "inbound"
