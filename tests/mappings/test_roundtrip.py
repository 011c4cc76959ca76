"""Mapping a caseload record out to the CRM record shape and back in keeps every mapped field.

Times are compared as instants: a CRM stores UTC, and Python's `==` between zones is False for
wall times in the repeated autumn hour (PEP 495), even when they are the same instant.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings import Mapping, MemberCase, load_profile
from mappings.engine import FieldRule
from mappings.model import (
    COUNCIL_ZONE,
    Authority,
    AuthorityScope,
    CaseStatus,
    Channel,
    Constituent,
    LawfulBasis,
    Location,
    Priority,
    RaisedBy,
    Sharing,
    SharingLevel,
)

LAGAN = load_profile("lagan")
DYNAMICS = load_profile("dynamics365")
CATEGORIES = sorted(LAGAN.value_maps["category"].forward.values())

ids = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
words = (
    st.text(
        alphabet=st.characters(categories=("L", "N"), include_characters=" .,'-&/()£é"),
        min_size=1,
        max_size=60,
    )
    .map(str.strip)
    .filter(bool)
)
postcodes = st.builds(
    lambda area, district, sector, unit: f"{area}{district} {sector}{unit}",
    st.sampled_from(["FM", "SW", "E", "B"]),
    st.integers(1, 19),
    st.integers(0, 9),
    st.text(alphabet="ABDEFGHJLNPQRSTUWXYZ", min_size=2, max_size=2),
)
moments = st.datetimes(
    min_value=datetime(2001, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.sampled_from([UTC, ZoneInfo("Europe/London")]),
    allow_imaginary=False,
)
grid = st.floats(min_value=0, max_value=699_999, allow_nan=False, allow_infinity=False)


@st.composite
def member_cases(draw: st.DrawFn) -> MemberCase:
    """Valid caseload records: statuses the CRMs can hold, dates in a consistent order."""
    # Arithmetic in UTC: adding to a London time in the repeated hour silently drops `fold`.
    received = draw(moments).astimezone(UTC)
    received_day = received.astimezone(COUNCIL_ZONE).date()

    def later(max_days: int = 90) -> datetime:
        return received + timedelta(seconds=draw(st.integers(0, max_days * 86400)))

    def day_on_or_after() -> Any:
        return received_day + timedelta(days=draw(st.integers(0, 120)))

    status = draw(st.sampled_from([s for s in CaseStatus if s is not CaseStatus.QUEUED]))
    closed = status in (CaseStatus.CLOSED, CaseStatus.REOPENED) and draw(st.booleans())
    level = draw(st.sampled_from(list(SharingLevel)))
    named = level is SharingLevel.NAMED
    authority = None
    if draw(st.booleans()):
        recorded = later(5)
        authority = Authority(
            recorded_by=draw(ids),
            recorded_at=recorded,
            scope=draw(st.sampled_from(list(AuthorityScope))),
            lawful_basis=draw(st.sampled_from(list(LawfulBasis))),
            explicit_consent=draw(st.booleans()),
            withdrawn_at=(
                recorded + timedelta(days=draw(st.integers(0, 30))) if draw(st.booleans()) else None
            ),
        )
    easting = draw(st.none() | grid)
    return MemberCase(
        portal_id=uuid.UUID(int=draw(st.integers(0, 2**128 - 1))),
        crm_reference=draw(st.from_regex(r"1010[0-9]{8}", fullmatch=True)),
        member_id=draw(ids),
        ward_id=draw(ids),
        constituent=Constituent(
            crm_party_id=draw(st.from_regex(r"[0-9a-f-]{7,36}", fullmatch=True)),
            forename=draw(st.none() | words.map(lambda w: w[:100])),
            surname=draw(words),
            email=draw(st.none() | ids.map(lambda i: f"{i}@example.org")),
            phone=draw(st.none() | st.from_regex(r"0[0-9]{4} [0-9]{6}", fullmatch=True)),
            location=Location(
                address=draw(st.none() | words),
                postcode=draw(st.none() | postcodes),
                uprn=draw(st.none() | st.from_regex(r"[0-9]{1,12}", fullmatch=True)),
            ),
        ),
        category=draw(st.sampled_from(CATEGORIES)),
        service_id=draw(ids) if status is CaseStatus.WITH_SERVICE else draw(st.none() | ids),
        title=draw(words),
        description=draw(st.just("") | words),
        channel=draw(st.sampled_from(list(Channel))),
        raised_by=draw(st.sampled_from(list(RaisedBy))),
        status=status,
        priority=draw(st.sampled_from(list(Priority))),
        received_at=received,
        acknowledged_at=later() if draw(st.booleans()) else None,
        closed_at=later(400) if (status is CaseStatus.CLOSED or closed) else None,
        next_update_due=day_on_or_after() if draw(st.booleans()) else None,
        target_date=day_on_or_after() if draw(st.booleans()) else None,
        closure_reason=draw(words) if status is CaseStatus.CLOSED else None,
        location=Location(
            easting=easting, northing=None if easting is None else draw(grid.map(lambda g: g * 1.5))
        ),
        sharing=Sharing(
            level=level,
            colleague_id=draw(ids) if named else None,
            until=day_on_or_after() if named and draw(st.booleans()) else None,
        ),
        authority=authority,
    )


def mapped_values(mapping: Mapping, case: MemberCase) -> dict[str, Any]:
    """The value of every field this mapping reads, as the caseload record holds it."""
    readable: list[FieldRule] = [r for r in mapping.rules if r.inbound and r.record_write]
    return {rule.name: instant(mapped_values_for(case, rule)) for rule in readable}


def instant(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def as_it_is(case: MemberCase) -> MemberCase:
    return case


def closed_time_only_when_closed(case: MemberCase) -> MemberCase:
    """The Dataverse profile reads a closed time only for closed cases (see its closed_at)."""
    if case.status is not CaseStatus.CLOSED:
        return case.model_copy(update={"closed_at": None})
    return case


@pytest.mark.parametrize(
    ("mapping", "crm_can_hold"),
    [(LAGAN, as_it_is), (DYNAMICS, closed_time_only_when_closed)],
    ids=["lagan", "dynamics365"],
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=member_cases())
def test_out_and_back_in_preserves_every_mapped_field(
    mapping: Mapping, crm_can_hold: Callable[[MemberCase], MemberCase], case: MemberCase
) -> None:
    """What the CRM's records can hold of a case (`crm_can_hold`) comes back unchanged."""
    case = crm_can_hold(case)
    back = mapping.to_caseload(mapping.to_record(case))
    assert mapped_values(mapping, back) == mapped_values(mapping, case)


@pytest.mark.parametrize("mapping", [LAGAN, DYNAMICS], ids=["lagan", "dynamics365"])
@settings(max_examples=50, deadline=None)
@given(case=member_cases())
def test_payload_holds_every_outbound_field_in_crm_form(mapping: Mapping, case: MemberCase) -> None:
    payload = mapping.to_crm(case)
    for rule in mapping.rules:
        if not rule.out_create or rule.out_path is None or rule.out_write is None:
            continue
        value = mapped_values_for(case, rule)
        written = rule.out_path.get(payload)
        if value is None:
            assert written is None, rule.name
        else:
            assert written == rule.out_write(value), rule.name
            if mapping.schema.text_leaves:
                assert isinstance(written, str), rule.name


def mapped_values_for(case: MemberCase, rule: FieldRule) -> Any:
    node: Any = case
    for part in rule.target:
        node = getattr(node, part, None) if node is not None else None
    return node


@pytest.mark.parametrize("mapping", [LAGAN, DYNAMICS], ids=["lagan", "dynamics365"])
def test_the_round_trip_compares_every_inbound_field(mapping: Mapping) -> None:
    inbound = {rule.name for rule in mapping.rules if rule.inbound}
    compared = {rule.name for rule in mapping.rules if rule.inbound and rule.record_write}
    assert compared == inbound
