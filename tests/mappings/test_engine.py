"""The engine: raw CRM records to caseload records and back, with every failure named."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from mappings import (
    CaseStatus,
    Channel,
    Mapping,
    RecordMappingError,
    SharingLevel,
    parse_mapping,
)
from mappings.model import AuthorityScope, LawfulBasis, RaisedBy
from tests.mappings.conftest import MINIMAL_DYNAMICS, record


def form_value(payload: dict[str, Any], key: str) -> str | None:
    for item in payload["Form"]["FormField"]:
        if item["Key"] == key:
            return str(item["Value"])
    return None


def set_form(raw: dict[str, Any], key: str, value: str) -> None:
    for item in raw["Form"]["FormField"]:
        if item["Key"] == key:
            item["Value"] = value
            return
    raw["Form"]["FormField"].append({"Key": key, "Value": value})


# --- Lagan inbound ------------------------------------------------------------------------------


def test_lagan_case_maps_core_details_party_and_form_fields(lagan: Mapping) -> None:
    case = lagan.to_caseload(record("lagan_case.json"))
    assert case.crm_reference == "101000002951"
    assert case.portal_id == uuid.UUID("6f1c2a8e-4b7d-4e0a-9d3c-2b1a0f9e8d7c")
    assert case.status is CaseStatus.WITH_SERVICE
    assert case.category == "roads"
    assert case.received_at == datetime(2025, 3, 4, 10, 15, tzinfo=UTC)
    assert case.target_date == date(2025, 3, 18)
    assert (case.location.easting, case.location.northing) == (545123.5, 258901.25)
    assert case.constituent.crm_party_id == "1000123"
    assert case.constituent.surname == "Jane Smith"
    assert case.constituent.location.postcode == "FM3 4AB"
    assert (case.member_id, case.ward_id, case.service_id) == ("cllr-0007", "ward-03", "svc-01")
    assert case.channel is Channel.SURGERY
    assert case.raised_by is RaisedBy.COUNCILLOR


def test_lagan_sharing_and_authority_come_from_the_case_form(lagan: Mapping) -> None:
    case = lagan.to_caseload(record("lagan_case.json"))
    assert case.sharing.level is SharingLevel.NAMED
    assert case.sharing.colleague_id == "cllr-0008"
    assert case.sharing.until == date(2025, 6, 3)  # 23:00Z on 2 June is 3 June in London (BST)
    assert case.authority is not None
    assert case.authority.scope is AuthorityScope.THIS_ENQUIRY
    assert case.authority.lawful_basis is LawfulBasis.PUBLIC_TASK
    assert case.authority.explicit_consent is True
    assert case.authority.withdrawn_at is None


def test_empty_form_values_read_as_absent(lagan: Mapping) -> None:
    case = lagan.to_caseload(record("lagan_case.json"))
    assert case.closure_reason is None  # ClosureReason is "" in the record


def test_authority_is_absent_when_no_authority_field_is_present(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    raw["Form"]["FormField"] = [
        f for f in raw["Form"]["FormField"] if not f["Key"].startswith(("Authority", "Lawful"))
    ]
    raw["Form"]["FormField"] = [
        f for f in raw["Form"]["FormField"] if f["Key"] != "ExplicitConsent"
    ]
    assert lagan.to_caseload(raw).authority is None


def test_unknown_status_code_is_a_typed_error_naming_record_and_field(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    raw["CoreDetails"]["Status"] = "parked"
    with pytest.raises(RecordMappingError) as caught:
        lagan.to_caseload(raw)
    error = caught.value
    assert error.reference == "101000002951"
    assert [p.field for p in error.problems] == ["status"]
    assert str(error) == (
        "cannot map inbound record 101000002951: status (CoreDetails.Status): CRM value 'parked'"
        " has no mapping in value map `status` (policy `error`): add it to `value_maps.status`"
    )


def test_an_unmapped_value_that_is_not_a_code_stays_out_of_the_message(
    lagan: Mapping,
) -> None:
    raw = record("lagan_case.json")
    raw["CoreDetails"]["Status"] = "Mrs Jane Doe rang"
    with pytest.raises(RecordMappingError) as caught:
        lagan.to_caseload(raw)
    assert "Jane" not in str(caught.value)
    assert caught.value.problems[0].message == (
        "CRM value (17 characters, not shown) has no mapping in value map `status`"
        " (policy `error`): add it to `value_maps.status`"
    )


def test_model_refusals_never_quote_the_refused_value(dynamics: Mapping) -> None:
    raw = record("dynamics365_case.json")
    raw["customerid_contact"]["emailaddress1"] = "jane doe@exa mple.org"
    raw["customerid_contact"]["telephone1"] = "ring Jane"
    raw["cr_postcode"] = "Jane's house"
    with pytest.raises(RecordMappingError) as caught:
        dynamics.to_caseload(raw)
    text = str(caught.value)
    for secret in ("jane", "Jane", "exa mple", "SPACE"):
        assert secret not in text
    by_field = {p.field: p.message for p in caught.value.problems}
    assert by_field["constituent.email"] == "is not a valid email address"
    assert set(by_field) == {
        "constituent.email",
        "constituent.phone",
        "constituent.location.postcode",
    }


def test_every_field_problem_of_a_record_is_reported_together(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    raw["CoreDetails"]["Status"] = "parked"
    raw["CoreDetails"]["Opened"] = "last tuesday"
    set_form(raw, "Channel", "Pigeon")
    set_form(raw, "ExplicitConsent", "perhaps")
    del raw["CoreDetails"]["Title"]
    with pytest.raises(RecordMappingError) as caught:
        lagan.to_caseload(raw)
    kinds = {p.field: p.kind for p in caught.value.problems}
    assert kinds == {
        "status": "unmapped",
        "received_at": "conversion",
        "channel": "unmapped",
        "authority.explicit_consent": "conversion",
        "title": "missing",
    }
    by_field = {p.field: p.message for p in caught.value.problems}
    assert set(by_field) == {
        "status",
        "received_at",
        "channel",
        "authority.explicit_consent",
        "title",
    }
    assert by_field["received_at"] == "is not an ISO 8601 date and time"
    assert by_field["title"] == "required value is missing"
    assert "'Pigeon'" in by_field["channel"]


def test_model_invariants_are_reported_as_record_problems(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    raw["CoreDetails"]["Status"] = "closed"  # closed without a Closed time or a reason
    with pytest.raises(RecordMappingError) as caught:
        lagan.to_caseload(raw)
    (problem,) = caught.value.problems
    assert problem.field == "record"
    assert "a closed case needs its closed time (closed_at)" in problem.message
    assert "a closed case needs a closure reason" in problem.message


def test_model_field_errors_name_the_crm_path(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    set_form(raw, "UPRN", "not-a-uprn")
    with pytest.raises(RecordMappingError) as caught:
        lagan.to_caseload(raw)
    (problem,) = caught.value.problems
    assert problem.field == "constituent.location.uprn"
    assert problem.crm_path == "Form.FormField[Key=UPRN].Value"
    assert "not-a-uprn" not in str(caught.value)  # values stay out of messages


def test_a_bad_postcode_is_reported_without_the_postcode(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    set_form(raw, "Postcode", "NOT A POSTCODE")
    with pytest.raises(RecordMappingError) as caught:
        lagan.to_caseload(raw)
    (problem,) = caught.value.problems
    assert problem.field == "constituent.location.postcode"
    assert "is not a UK postcode" in problem.message
    assert "NOT A POSTCODE" not in str(caught.value)


def test_unmapped_priority_takes_the_value_map_default(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    set_form(raw, "Priority", "whenever")
    assert lagan.to_caseload(raw).priority.value == "normal"


def test_keep_raw_passes_an_unlisted_code_through(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    set_form(raw, "RaisedBy", "mp")
    assert lagan.to_caseload(raw).raised_by is RaisedBy.MP


def test_field_default_fills_an_absent_value(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    raw["Form"]["FormField"] = [
        f for f in raw["Form"]["FormField"] if not f["Key"].startswith("Sharing")
    ]
    assert lagan.to_caseload(raw).sharing.level is SharingLevel.PRIVATE


def test_repeated_scalar_element_with_one_value_reads_as_that_value(lagan: Mapping) -> None:
    raw = record("lagan_case.json")
    assert raw["CoreDetails"]["AssociatedObject"]["ObjectID"]["ObjectReference"] == ["1000123"]
    raw["CoreDetails"]["AssociatedObject"]["ObjectID"]["ObjectReference"] = "1000123"
    assert lagan.to_caseload(raw).constituent.crm_party_id == "1000123"


# --- Lagan outbound -----------------------------------------------------------------------------


def test_lagan_create_payload_is_fwtcasecreate_shaped(lagan: Mapping) -> None:
    case = lagan.to_caseload(record("lagan_case.json"))
    payload = lagan.to_crm(case)
    assert "CaseReference" not in payload  # createCase returns it
    assert "CoreDetails" not in payload
    assert payload["ClassificationEventCode"] == "101"
    assert payload["Title"] == "Pothole outside house"
    assert payload["DueDate"] == "2025-03-18T00:00:00Z"
    assert payload["XCoord"] == "545123.5"
    assert payload["AssociatedObject"] == {
        "ObjectID": {"ObjectReference": "1000123", "ObjectType": "C1"},
        "ObjectDescription": "Jane Smith",
    }
    assert payload["Form"]["FormName"] == "MemberEnquiry"
    assert form_value(payload, "Channel") == "Surgery"
    assert form_value(payload, "RaisedBy") == "member"
    assert form_value(payload, "ExplicitConsent") == "1"
    assert form_value(payload, "AuthorityScope") == "this-case"
    assert form_value(payload, "SharingUntil") == "2025-06-02T23:00:00Z"
    assert all(isinstance(item["Value"], str) for item in payload["Form"]["FormField"])


def test_lagan_update_payload_carries_the_reference_and_not_create_only_parts(
    lagan: Mapping,
) -> None:
    case = lagan.to_caseload(record("lagan_case.json"))
    payload = lagan.to_crm(case, for_update=True)
    assert payload["CaseReference"] == "101000002951"
    assert "ClassificationEventCode" not in payload
    assert "AssociatedObject" not in payload  # FWTCaseUpdate takes an FWTObjectID, not this
    assert form_value(payload, "MemberId") == "cllr-0007"


def test_lagan_payload_leaves_out_inbound_only_fields(lagan: Mapping) -> None:
    case = lagan.to_caseload(record("lagan_case.json"))
    payload = lagan.to_crm(case)
    assert "Status" not in payload and "Opened" not in payload


def test_a_caseload_value_with_no_crm_code_is_a_typed_error(lagan: Mapping) -> None:
    case = lagan.to_caseload(record("lagan_case.json")).model_copy(
        update={"status": CaseStatus.QUEUED}
    )
    with pytest.raises(RecordMappingError) as caught:
        lagan.to_record(case)
    (problem,) = caught.value.problems
    assert problem.field == "status"
    assert "caseload value 'queued' has no mapping in value map `status`" in problem.message
    assert caught.value.reference == "101000002951"


# --- Dynamics -----------------------------------------------------------------------------------


def test_dynamics_incident_maps_option_sets_and_expanded_customer(dynamics: Mapping) -> None:
    case = dynamics.to_caseload(record("dynamics365_case.json"))
    assert case.crm_reference == "0b6f1f7e-2c3d-4a5b-8c9d-0e1f2a3b4c5d"  # incidentid: the key
    assert case.crm_number == "CAS-02952-X8F3K2"  # ticketnumber: what people read
    assert case.channel is Channel.EMAIL
    assert case.category == "waste"  # the choice column's option value 102
    assert case.status is CaseStatus.CLOSED  # statuscode 5, Problem Solved
    assert case.closed_at == datetime(2025, 3, 20, 16, tzinfo=UTC)
    assert case.closure_reason == "resolved"  # the resolution's subject
    assert (case.constituent.forename, case.constituent.surname) == ("Dev", "Patel")
    assert case.constituent.email == "dev.patel@example.org"
    assert case.authority is not None and case.authority.explicit_consent is False


def test_dynamics_payload_uses_json_types_and_binds_the_customer(dynamics: Mapping) -> None:
    case = dynamics.to_caseload(record("dynamics365_case.json"))
    payload = dynamics.to_crm(case)
    assert payload["caseorigincode"] == 2
    assert payload["cr_explicitconsent"] is False
    assert (
        payload["customerid_contact@odata.bind"]
        == "/contacts(7d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6)"
    )
    assert payload["overriddencreatedon"] == "2025-03-04T10:15:00Z"
    assert payload["cr_categorycode"] == 102 and payload["statuscode"] == 5
    for read_only in (
        "incidentid",
        "ticketnumber",
        "createdon",
        "statecode",
        "_customerid_value",
    ):
        assert read_only not in payload
    # The resident's details go with a create (the connector makes the contact of a new
    # resident from them; an existing one is bound), never with an update.
    assert payload["customerid_contact"] == {
        "firstname": "Dev",
        "lastname": "Patel",
        "emailaddress1": "dev.patel@example.org",
        "telephone1": "01234 567890",
    }
    update = dynamics.to_crm(case, for_update=True)
    assert "overriddencreatedon" not in update and "customerid_contact" not in update
    assert update["cr_categorycode"] == 102


# --- computed fields and the record shape -------------------------------------------------------


COMPUTED = MINIMAL_DYNAMICS.replace(
    """  constituent.surname:
    path: customerid_contact.lastname
    direction: inbound
""",
    """  constituent.surname:
    compute:
      op: template
      template: "{customerid_contact.firstname} {customerid_contact.lastname}"
    direction: inbound
  constituent.location.address:
    compute: {op: concat, paths: [cr_line1, cr_line2, cr_town], separator: ", "}
    direction: inbound
  service_id:
    compute: {op: first_of, paths: [cr_serviceid, cr_queue]}
    direction: inbound
""",
)

INCIDENT: dict[str, Any] = {
    "cr_memberid": "cllr-1",
    "cr_wardid": "ward-1",
    "customerid_contact": {"firstname": "Ann", "lastname": "Lee"},
    "cr_categorycode": "roads",
    "title": "Pothole",
    "caseorigincode": 1,
    "createdon": "2025-03-04T10:15:00Z",
    "cr_line1": "1 High St",
    "cr_line2": "",
    "cr_town": "Fenmarsh",
    "cr_queue": "svc-01",
}


def test_computed_fields_fill_templates_concatenate_and_pick_the_first_present() -> None:
    case = parse_mapping(COMPUTED).to_caseload(INCIDENT)
    assert case.constituent.surname == "Ann Lee"
    assert case.constituent.location.address == "1 High St, Fenmarsh"
    assert case.service_id == "svc-01"


def test_a_template_with_a_missing_part_leaves_no_stray_spaces() -> None:
    incident = copy.deepcopy(INCIDENT)
    del incident["customerid_contact"]["firstname"]
    assert parse_mapping(COMPUTED).to_caseload(incident).constituent.surname == "Lee"


def test_to_record_is_the_inverse_of_to_caseload(lagan: Mapping, dynamics: Mapping) -> None:
    for mapping, name in ((lagan, "lagan_case.json"), (dynamics, "dynamics365_case.json")):
        case = mapping.to_caseload(record(name))
        assert mapping.to_caseload(mapping.to_record(case)) == case


def test_outbound_errors_are_collected_into_one_typed_error(dynamics: Mapping) -> None:
    case = dynamics.to_caseload(record("dynamics365_case.json")).model_copy(
        update={"category": "no-such-category"}
    )
    with pytest.raises(RecordMappingError) as caught:
        dynamics.to_crm(case)
    assert caught.value.direction == "outbound"
    assert caught.value.reference == "0b6f1f7e-2c3d-4a5b-8c9d-0e1f2a3b4c5d"
    assert [p.field for p in caught.value.problems] == ["category"]
    assert caught.value.problems[0].crm_path == "cr_categorycode"


def test_an_outbound_only_field_is_written_but_never_read() -> None:
    mapping = parse_mapping(
        MINIMAL_DYNAMICS + "  service_id:\n    path: cr_serviceid\n    direction: outbound\n"
    )
    incident = dict(INCIDENT, cr_serviceid="svc-09")
    case = mapping.to_caseload(incident)
    assert case.service_id is None
    assert (
        mapping.to_crm(case.model_copy(update={"service_id": "svc-02"}))["cr_serviceid"] == "svc-02"
    )


def test_an_outbound_value_map_translates_only_on_the_way_out() -> None:
    text = MINIMAL_DYNAMICS.replace(
        "fields:\n",
        "  priority_code:\n    unmapped: error\n    values:\n      1: high\n      2: normal\n"
        "      3: low\n    outbound:\n      urgent: 1\nfields:\n",
    ) + (
        "  priority:\n    path: cr_priority\n"
        "    outbound: {path: prioritycode, value_map: priority_code}\n"
    )
    mapping = parse_mapping(text)
    case = mapping.to_caseload(dict(INCIDENT, cr_priority="urgent"))
    assert case.priority.value == "urgent"
    assert mapping.to_crm(case)["prioritycode"] == 1


def test_a_load_profile_path_and_name_give_the_same_mapping(lagan: Mapping) -> None:
    from mappings import load_profile

    by_path = load_profile(lagan.source)
    assert by_path.field_specs == lagan.field_specs


def test_dynamics_closed_time_falls_back_to_the_last_change_of_a_closed_case(
    dynamics: Mapping,
) -> None:
    raw = record("dynamics365_case.json")
    raw.update(statecode=2, statuscode=6, Incident_IncidentResolutions=[])  # cancelled
    case = dynamics.to_caseload(raw)
    assert case.closed_at == datetime(2025, 3, 20, 16, tzinfo=UTC)
    assert case.closure_reason == "Cancelled in Dynamics 365"


def test_a_when_condition_leaves_the_field_absent_for_other_records(dynamics: Mapping) -> None:
    raw = record("dynamics365_case.json")
    raw.update(statecode=0, statuscode=1, Incident_IncidentResolutions=[])
    case = dynamics.to_caseload(raw)  # modifiedon is set, but an open case has no closed time
    assert case.closed_at is None and case.closure_reason is None


def test_to_record_writes_a_first_of_field_to_its_first_path(dynamics: Mapping) -> None:
    case = dynamics.to_caseload(record("dynamics365_case.json"))
    written = dynamics.to_record(case)
    assert written["Incident_IncidentResolutions"][0]["actualend"] == "2025-03-20T16:00:00Z"
    assert written["statecode"] == 1  # the `when` condition, written so it reads back
