"""Named behaviours of the access policy, and a property test that SQL and Python agree on
arbitrary viewers and cases (including nulls and odd party labels)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.model import (
    Authority,
    Channel,
    Constituent,
    MemberCase,
    Note,
    ServiceRequest,
    Sharing,
    SharingLevel,
)
from portal_extensions.access import (
    Action,
    CaseFacts,
    Reason,
    Role,
    Viewer,
    ViewerError,
    acting_for,
    can_act,
    can_view_case,
    holds,
    members_for_new_case,
    project_case,
    visibility_parts,
    visible_cases_clause,
    visible_cases_parts,
)
from tests.portal.access_fixtures import (
    COLUMNS,
    NOW,
    PARTY,
    TODAY,
    VIEWERS,
    facts,
    index_engine,
    visible_row_ids,
)


def test_named_cover_lasts_to_the_end_of_the_until_day_in_council_time() -> None:
    case = facts("alice", SharingLevel.NAMED, "dave", TODAY, "in_force", None)
    bob_is_not_named = VIEWERS["bob"]
    assert can_view_case(VIEWERS["dave"], case, NOW).reason is Reason.NAMED_COVER
    late_evening_london = datetime(2026, 6, 15, 22, 30, tzinfo=UTC)  # 23:30 BST, same day
    assert can_view_case(VIEWERS["dave"], case, late_evening_london)
    after_midnight_london = datetime(2026, 6, 15, 23, 30, tzinfo=UTC)  # 00:30 BST next day
    assert not can_view_case(VIEWERS["dave"], case, after_midnight_london)
    assert not can_view_case(bob_is_not_named, case, NOW)


def test_withdrawal_ends_sharing_at_once_but_the_owner_keeps_the_case() -> None:
    shared = facts("alice", SharingLevel.WARD, None, None, "in_force", "S1")
    withdrawn = facts("alice", SharingLevel.WARD, None, None, "withdrawn", "S1")
    for name in ("bob", "carol", "officer_s1"):
        assert can_view_case(VIEWERS[name], shared, NOW)
        assert not can_view_case(VIEWERS[name], withdrawn, NOW)
    for name in ("alice", "ms_alice", "team_leader"):
        assert can_view_case(VIEWERS[name], withdrawn, NOW)


def test_independents_do_not_form_a_party_group() -> None:
    erin_case = facts("erin", SharingLevel.PARTY, None, None, "in_force", None)
    other_independent = Viewer(
        user_id="u-frank", role=Role.MEMBER, member_id="frank", party="independent", ward_id="W2"
    )
    assert not can_view_case(other_independent, erin_case, NOW)


def test_administrators_see_no_case_even_their_own_council() -> None:
    case = facts("alice", SharingLevel.WARD, None, None, "in_force", "S1")
    decision = can_view_case(VIEWERS["admin"], case, NOW)
    assert not decision and decision.reason is Reason.NO_CASE_CONTENT


def test_sharing_lets_colleagues_read_but_only_the_named_cover_may_act() -> None:
    ward = facts("alice", SharingLevel.WARD, None, None, "in_force", None)
    named = facts("alice", SharingLevel.NAMED, "bob", None, "in_force", None)
    assert not can_act(VIEWERS["bob"], ward, Action.ADD_NOTE, NOW)
    assert can_act(VIEWERS["bob"], named, Action.ADD_NOTE, NOW)
    assert acting_for(VIEWERS["bob"], named) == "alice"
    assert acting_for(VIEWERS["alice"], named) is None
    assert acting_for(VIEWERS["ms_alice"], named) == "alice"


def test_after_withdrawal_the_only_action_is_to_close() -> None:
    withdrawn = facts("alice", SharingLevel.PRIVATE, None, None, "withdrawn", None)
    for name in ("alice", "ms_alice", "team_leader"):
        viewer = VIEWERS[name]
        assert can_act(viewer, withdrawn, Action.CLOSE, NOW)
        refused = can_act(viewer, withdrawn, Action.ADD_NOTE, NOW)
        assert not refused and refused.reason is Reason.AUTHORITY_WITHDRAWN


def test_service_officers_may_only_respond() -> None:
    case = facts("alice", SharingLevel.PRIVATE, None, None, "in_force", "S1")
    officer = VIEWERS["officer_s1"]
    assert can_act(officer, case, Action.RESPOND, NOW)
    assert not can_act(officer, case, Action.CLOSE, NOW)
    assert not can_act(VIEWERS["alice"], case, Action.RESPOND, NOW)


def test_who_may_record_an_enquiry_for_whom() -> None:
    everyone = [member for member in PARTY]
    assert members_for_new_case(VIEWERS["alice"], everyone) == ["alice"]
    assert members_for_new_case(VIEWERS["ms_alice"], everyone) == ["alice"]
    assert members_for_new_case(VIEWERS["team_leader"], everyone) == everyone
    assert members_for_new_case(VIEWERS["officer_s1"], everyone) == []
    assert members_for_new_case(VIEWERS["admin"], everyone) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"role": Role.MEMBER, "member_id": "alice", "party": "Red"},
        {"role": Role.TEAM_LEADER, "member_id": "alice"},
        {"role": Role.ADMINISTRATOR, "service_ids": frozenset({"S1"})},
        {
            "role": Role.MEMBER,
            "member_id": "a",
            "party": "R",
            "ward_id": "W1",
            "supported_member_ids": frozenset({"b"}),
        },
    ],
)
def test_inconsistent_viewers_are_refused_with_a_reason(kwargs) -> None:
    with pytest.raises(ViewerError, match="u-x"):
        Viewer(user_id="u-x", **kwargs)


def test_naive_times_are_refused() -> None:
    case = facts("alice", SharingLevel.NAMED, "bob", TODAY, "in_force", None)
    with pytest.raises(ValueError, match="timezone-aware"):
        can_view_case(VIEWERS["bob"], case, datetime(2026, 6, 15, 12, 0))


def _special_case() -> MemberCase:
    received = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    return MemberCase(
        member_id="alice",
        ward_id="W1",
        constituent=Constituent(surname="Jones", email="j@example.org"),
        category="Housing",
        service_id="S1",
        title="Damp in flat",
        description="Asthma made worse by damp",
        channel=Channel.SURGERY,
        received_at=received,
        sharing=Sharing(level=SharingLevel.WARD),
        authority=Authority(recorded_by="alice", recorded_at=received, explicit_consent=True),
        special_category=True,
        notes=[Note(author="alice", text="GP letter seen", created_at=received)],
        service_requests=[
            ServiceRequest(service_id="S1", sent_at=received, response_due=date(2026, 6, 20)),
            ServiceRequest(service_id="S2", sent_at=received, response_due=date(2026, 6, 20)),
        ],
    )


def test_projection_shows_a_service_officer_only_what_they_need() -> None:
    case = _special_case()
    case_facts = CaseFacts.from_case(case, member_party="Red")
    seen = project_case(VIEWERS["officer_s1"], case, case_facts, NOW)
    assert seen["description"] == "Asthma made worse by damp"
    assert "constituent" not in seen and "notes" not in seen
    assert [request["service_id"] for request in seen["service_requests"]] == ["S1"]


def test_projection_hides_special_details_once_consent_is_withdrawn() -> None:
    case = _special_case()
    assert case.authority is not None
    case.authority = case.authority.model_copy(update={"withdrawn_at": NOW - timedelta(hours=1)})
    case_facts = CaseFacts.from_case(case, member_party="Red")
    seen = project_case(VIEWERS["alice"], case, case_facts, NOW)
    assert seen["title"] == "Damp in flat"
    assert "description" not in seen and "notes" not in seen
    assert project_case(VIEWERS["bob"], case, case_facts, NOW) == {}


# ---------------------------------------------------------------------------------------------
# Property: for arbitrary viewers and cases, the SQL filter and the page decision agree.

ids = st.sampled_from(["m1", "m2", "m3", "m4"])
wards = st.sampled_from(["W1", "W2"])
parties = st.sampled_from(["Red", "Blue", "Independent", " ", "red"])
days = st.one_of(st.none(), st.dates(date(2026, 6, 10), date(2026, 6, 20)))
moments = st.one_of(st.none(), st.just(NOW - timedelta(days=3)))


@st.composite
def case_facts(draw: st.DrawFn) -> CaseFacts:
    level = draw(st.sampled_from(list(SharingLevel)))
    return CaseFacts(
        member_id=draw(ids),
        ward_id=draw(wards),
        member_party=None,  # filled from the member table below
        service_id=draw(st.one_of(st.none(), st.sampled_from(["S1", "S2"]))),
        sharing_level=level,
        sharing_colleague_id=draw(st.one_of(st.none(), ids)),
        sharing_until=draw(days),
        authority_recorded_at=draw(moments),
        authority_withdrawn_at=draw(moments),
    )


@st.composite
def viewers(draw: st.DrawFn) -> Viewer:
    role = draw(st.sampled_from(list(Role)))
    if role is Role.MEMBER:
        return Viewer("u", role, member_id=draw(ids), party=draw(parties), ward_id=draw(wards))
    if role is Role.MEMBERS_SERVICES:
        return Viewer("u", role, supported_member_ids=frozenset(draw(st.sets(ids))))
    if role is Role.SERVICE_OFFICER:
        return Viewer(
            "u", role, service_ids=frozenset(draw(st.sets(st.sampled_from(["S1", "S2"]))))
        )
    return Viewer("u", role)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    viewer=viewers(),
    cases=st.lists(case_facts(), min_size=1, max_size=12),
    member_parties=st.fixed_dictionaries(
        {m: st.one_of(st.none(), parties) for m in ["m1", "m2", "m3", "m4"]}
    ),
    hour=st.integers(0, 23),
    day=st.dates(date(2026, 6, 10), date(2026, 6, 20)),
)
def test_sql_filter_and_case_page_agree_on_arbitrary_cases(
    viewer, cases, member_parties, hour, day
) -> None:
    now = datetime(day.year, day.month, day.day, hour, 30, tzinfo=UTC)
    joined = [
        CaseFacts(
            **{
                **{f: getattr(c, f) for f in c.__slots__},
                "member_party": member_parties[c.member_id],
            }
        )
        for c in cases
    ]
    engine = index_engine(joined, member_parties)
    page = {i for i, case in enumerate(joined) if can_view_case(viewer, case, now)}
    listed = visible_row_ids(engine, visible_cases_clause(viewer, now, COLUMNS))
    assert listed == page
    # The union of the parts, with the party grant read through the directory's member list
    # (as the store lists run it) and through the per-row party fact, shows the same cases.
    party_members = frozenset(
        member
        for member, party in member_parties.items()
        if viewer.party_group is not None and party == viewer.party_group
    )
    for members_given in (None, party_members):
        parts = visible_cases_parts(viewer, now, COLUMNS, members_given)
        shown = [visible_row_ids(engine, part) for part in parts]
        assert set().union(*shown) == page
        assert sum(len(rows) for rows in shown) == len(page), "the parts are disjoint"
    # In Python too (with the per-row party fact): a case the page allows is in exactly one
    # part, a refused case in none.
    for i, case in enumerate(joined):
        held = [holds(part, case) for part in visibility_parts(viewer, now)]
        assert sum(held) == (1 if i in page else 0)
        # The parts for one reason hold exactly where the page's decision gives that reason.
        decision = can_view_case(viewer, case, now)
        for reason in Reason:
            chosen = visibility_parts(viewer, now, reasons={reason})
            assert any(holds(part, case) for part in chosen) == (
                decision.allowed and decision.reason is reason
            )
