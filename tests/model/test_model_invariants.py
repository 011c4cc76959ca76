"""The caseload record model refuses invalid states with messages a person can act on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase, Sharing, SharingLevel

RECEIVED = "2025-03-04T10:15:00+00:00"


def case(**changes: Any) -> MemberCase:
    fields: dict[str, Any] = {
        "member_id": "cllr-0001",
        "ward_id": "ward-01",
        "constituent": {"surname": "Smith"},
        "category": "roads",
        "title": "Pothole on Mill Lane",
        "channel": "surgery",
        "received_at": RECEIVED,
    }
    fields.update(changes)
    return MemberCase.model_validate(fields)


def messages(**changes: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        case(**changes)
    return str(caught.value)


def test_a_minimal_case_is_queued_private_and_in_the_council_zone() -> None:
    made = case(received_at="2025-03-04T10:15:00")
    assert made.status is CaseStatus.QUEUED
    assert made.sharing.level is SharingLevel.PRIVATE
    assert made.received_at.tzinfo is COUNCIL_ZONE


def test_closed_without_time_or_reason_names_both() -> None:
    text = messages(status="closed")
    assert "a closed case needs its closed time (closed_at)" in text
    assert "a closed case needs a closure reason" in text


def test_closed_time_on_an_open_case_is_refused() -> None:
    assert "a case with status 'open' cannot have a closed time" in messages(
        status="open", closed_at="2025-03-05T10:00:00Z"
    )


def test_due_date_before_receipt_is_refused() -> None:
    assert "target_date (2025-03-01) is before the case was received (2025-03-04)" in messages(
        target_date="2025-03-01"
    )


def test_special_category_needs_explicit_consent() -> None:
    text = messages(special_category=True)
    assert "special-category details need the constituent's explicit consent" in text
    allowed = case(
        special_category=True,
        authority={
            "recorded_by": "cllr-0001",
            "recorded_at": RECEIVED,
            "explicit_consent": True,
        },
    )
    assert allowed.special_category


def test_with_service_needs_a_service() -> None:
    assert "a case with a service needs service_id" in messages(status="with_service")


def test_named_sharing_needs_a_colleague() -> None:
    with pytest.raises(ValidationError, match="needs colleague_id"):
        Sharing(level=SharingLevel.NAMED)
    with pytest.raises(ValidationError, match="apply only to sharing level 'named'"):
        Sharing(level=SharingLevel.WARD, colleague_id="cllr-0002")


def test_postcode_is_normalised_and_a_bad_one_is_not_echoed() -> None:
    assert case(constituent={"surname": "Smith", "location": {"postcode": "fm12ab"}}).constituent
    text = messages(constituent={"surname": "Smith", "location": {"postcode": "NOT A CODE"}})
    assert "is not a UK postcode" in text


def test_times_in_the_repeated_autumn_hour_compare_as_instants() -> None:
    # 01:30 BST and 01:30 GMT on 26 Oct 2025 are an hour apart; the second is the later.
    first = datetime(2025, 10, 26, 1, 30, tzinfo=COUNCIL_ZONE, fold=0)
    second = datetime(2025, 10, 26, 1, 30, tzinfo=COUNCIL_ZONE, fold=1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert "acknowledged_at is before the case was received" in messages(
        received_at=second, acknowledged_at=first
    )
    assert case(received_at=first, acknowledged_at=second).acknowledged_at == second
