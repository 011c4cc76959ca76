"""Every role x sharing level x authority state x relation: the case page and the case lists
(SQL) agree, and both agree with the rule as the issue states it."""

from __future__ import annotations

import pytest

from mappings.model import SharingLevel
from portal_extensions.access import (
    SPECIAL_CATEGORY_FIELDS,
    CaseFacts,
    Role,
    Viewer,
    can_view_case,
    visible_cases_clause,
    visible_cases_parts,
    visible_fields,
)
from tests.portal.access_fixtures import (
    COLUMNS,
    NOW,
    PARTY,
    TODAY,
    VIEWERS,
    every_case,
    index_engine,
    visible_row_ids,
)

CASES = list(every_case())


def expected(viewer: Viewer, case: CaseFacts) -> bool:
    """The rule in the issue's words, independent of how access.py writes it."""
    authority_in_force = case.authority_recorded_at is not None and (
        case.authority_withdrawn_at is None
    )
    if viewer.role is Role.ADMINISTRATOR:
        return False
    if viewer.role is Role.TEAM_LEADER:
        return True
    if viewer.role is Role.MEMBERS_SERVICES:
        return case.member_id in viewer.supported_member_ids
    if viewer.role is Role.SERVICE_OFFICER:
        return case.service_id in viewer.service_ids and authority_in_force
    if case.member_id == viewer.member_id:
        return True
    if not authority_in_force:
        return False
    same_ward = case.ward_id == viewer.ward_id
    if case.sharing_level is SharingLevel.WARD:
        return same_ward
    if case.sharing_level is SharingLevel.PARTY:
        return same_ward and case.member_party == viewer.party and viewer.party != "Independent"
    if case.sharing_level is SharingLevel.NAMED:
        return case.sharing_colleague_id == viewer.member_id and (
            case.sharing_until is None or case.sharing_until >= TODAY
        )
    return False


@pytest.fixture(scope="module")
def index():
    return index_engine(CASES, dict(PARTY))


def test_the_matrix_covers_every_combination() -> None:
    levels = {case.sharing_level for case in CASES}
    assert levels == set(SharingLevel)
    assert {viewer.role for viewer in VIEWERS.values()} == set(Role)
    assert len(CASES) == 5 * (3 + 5 * 4) * 5 * 3 * 2


@pytest.mark.parametrize("viewer_name", sorted(VIEWERS))
def test_case_page_and_case_lists_agree_with_the_rule(viewer_name: str, index) -> None:
    viewer = VIEWERS[viewer_name]
    page_allows = {
        position for position, case in enumerate(CASES) if can_view_case(viewer, case, NOW)
    }
    rule_allows = {position for position, case in enumerate(CASES) if expected(viewer, case)}
    list_shows = visible_row_ids(index, visible_cases_clause(viewer, NOW, COLUMNS))
    assert page_allows == rule_allows
    assert list_shows == page_allows
    if viewer.role is not Role.ADMINISTRATOR:
        assert page_allows, "every role but administrator sees some case in this council"


def party_members_of(viewer: Viewer, parties: dict[str, str | None]) -> frozenset[str] | None:
    """What the store passes as `party_members`: members of the viewer's party group."""
    if viewer.party_group is None:
        return frozenset()
    return frozenset(member for member, party in parties.items() if party == viewer.party_group)


@pytest.mark.parametrize("with_party_members", [False, True])
@pytest.mark.parametrize("viewer_name", sorted(VIEWERS))
def test_the_union_of_the_list_parts_is_exactly_what_the_case_page_allows(
    viewer_name: str, with_party_members: bool, index
) -> None:
    viewer = VIEWERS[viewer_name]
    party_members = party_members_of(viewer, dict(PARTY)) if with_party_members else None
    page_allows = {
        position for position, case in enumerate(CASES) if can_view_case(viewer, case, NOW)
    }
    parts = visible_cases_parts(viewer, NOW, COLUMNS, party_members)
    shown = [visible_row_ids(index, part) for part in parts]
    assert set().union(*shown) == page_allows
    assert sum(len(rows) for rows in shown) == len(page_allows), "the parts are disjoint"
    if viewer.role is Role.ADMINISTRATOR:
        assert parts == []


@pytest.mark.parametrize("viewer_name", sorted(VIEWERS))
def test_fields_are_empty_when_refused_and_special_details_need_explicit_consent(
    viewer_name: str,
) -> None:
    viewer = VIEWERS[viewer_name]
    for case in CASES:
        fields = visible_fields(viewer, case, NOW)
        if not can_view_case(viewer, case, NOW):
            assert fields == frozenset()
            continue
        assert "portal_id" in fields and "title" in fields
        consent_in_force = case.explicit_consent and case.authority_withdrawn_at is None
        if case.special_category and not consent_in_force:
            assert not fields & SPECIAL_CATEGORY_FIELDS
        if viewer.role is Role.SERVICE_OFFICER:
            assert {"constituent", "notes", "sharing", "authority"}.isdisjoint(fields)
