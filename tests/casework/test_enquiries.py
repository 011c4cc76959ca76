"""Recording an enquiry, called directly: each problem beside its field, and a recorded
enquiry queued for the CRM and in the index at once."""

from __future__ import annotations

from portal_extensions.access import Action
from portal_extensions.casework import EnquiryForm, record_enquiry
from portal_extensions.casework.results import Invalid, Queued
from tests.casework.conftest import Council
from tests.portal.access_fixtures import NOW
from tests.portal.web_fixtures import OPTIONS

COMPLETE = {
    "surname": "Okafor",
    "category": "roads",
    "title": "Pavement cracked outside the school",
    "channel": "email",
}


def _record(
    council: Council, who: str, form: EnquiryForm, input_errors: dict[str, str] | None = None
) -> Queued | Invalid:
    return record_enquiry(
        form,
        viewer=council.viewer(who),
        options=OPTIONS,
        writes=council.writes,
        now=NOW,
        input_errors=input_errors,
    )


def test_every_missing_answer_is_reported_beside_its_field(council: Council) -> None:
    result = _record(council, "alice", EnquiryForm(sharing="named"))
    assert result == Invalid(
        {
            "surname": "Enter the resident's surname",
            "category": "Select the category",
            "title": "Enter what the enquiry is about",
            "channel": "Select how the enquiry came in",
            "colleague_id": "Select the colleague to share this enquiry with",
        }
    )


def test_sensitive_details_need_explicit_consent_and_a_real_email(council: Council) -> None:
    form = EnquiryForm(**COMPLETE, special_category=True, email="not an address")
    result = _record(council, "alice", form)
    assert isinstance(result, Invalid)
    assert result.errors == {
        "explicit_consent": "Sensitive details can only be recorded with the resident's"
        " explicit consent"
    }
    consented = EnquiryForm(
        **COMPLETE, special_category=True, explicit_consent=True, email="not an address"
    )
    assert _record(council, "alice", consented) == Invalid(
        {"email": "Enter an email address in the correct format, like name@example.com"}
    )


def test_staff_record_only_for_the_members_they_support(council: Council) -> None:
    form = EnquiryForm(**COMPLETE, member_id="carol")
    assert _record(council, "ms_alice", form) == Invalid(
        {"member_id": "Select a councillor you record enquiries for"}
    )


def test_problems_found_in_the_raw_input_stop_an_otherwise_good_enquiry(
    council: Council,
) -> None:
    problem = {"cover_until": "The end date must be a real date, like 27 3 2027"}
    assert _record(council, "alice", EnquiryForm(**COMPLETE), input_errors=problem) == Invalid(
        problem
    )


def test_a_recorded_enquiry_is_queued_and_the_member_sees_it_at_once(council: Council) -> None:
    result = _record(council, "ms_alice", EnquiryForm(**COMPLETE, member_id="alice"))
    assert isinstance(result, Queued)
    stored = council.cases.get(result.case_id)
    assert stored is not None and stored.queued
    assert stored.case.member_id == "alice" and stored.case.constituent.surname == "Okafor"
    visible = council.open("alice", stored.case, Action.ADD_NOTE)
    assert visible.fields["title"] == "Pavement cracked outside the school"
    assert [w.kind for w in council.writes.pending(result.case_id)] == ["create_case"]
