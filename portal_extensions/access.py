"""The access policy: the one place that decides who may see and do what with a case.

Every page, list, search, export and API call asks this module; nothing else in the project
decides access. The rule is written once, as data: for each viewer, a tuple of `Grant`s, each a
small predicate over a case's index facts (`CaseFacts`). The same grants are

* evaluated in Python (`can_view_case`), for a case page, and
* translated to a SQL where-clause (`visible_cases_clause`), for lists and searches, or to
  pairwise disjoint where-clauses whose OR is the same rule (`visible_cases_parts`), for lists
  over a large index that run one indexed query per part,

so a list can never show a case whose page would refuse it. The predicate language has no
negation on purpose: with only (in)equality of known values, membership, null tests, AND and
OR, SQL's three-valued logic and Python's two-valued logic agree on every row (an unknown is
never turned into true).

Decisions made here (and tested in `tests/portal/test_access_*.py`):

* member: own cases always; a ward colleague's case when its sharing level is `ward` (same case
  ward), `party` (same case ward and the case member's party), or `named` with the viewer as the
  cover colleague up to and including the `until` day (council time). Sharing is the
  constituent's choice, so it needs the constituent's authority recorded and not withdrawn.
  Members who sit as independents have no party group: `party` sharing never reaches them.
* members' services: every case of the members they support (they act on those members'
  behalf; `acting_for` names the member for the audit trail). team leader: every case.
* service officer: cases sent to one of their services, while authority is in force, and only
  the fields needed to respond (`visible_fields`).
* administrator: no case content at all.
* Withdrawn authority takes effect at once: sharing and service access end, special-category
  details are hidden from everyone, and nobody may act on the case except to close it or to
  record the constituent's authority again.
* The constituent's choices (authority, sharing, named cover) are changed only by the owning
  member, their members' services staff and the team leader (`Action.MANAGE_CONSENT`); a named
  cover colleague works the case but does not change whom it is shared with. The owning
  member, their members' services staff and the team leader still see the case, so it can be
  closed and accounted for.
* Special-category details (`SPECIAL_CATEGORY_FIELDS`) are shown only while explicit consent is
  recorded and in force.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import and_, false, or_, true
from sqlalchemy.sql.elements import ColumnElement

from mappings.model import COUNCIL_ZONE, MemberCase, SharingLevel

# --------------------------------------------------------------------------------------------
# Who is looking


class Role(StrEnum):
    MEMBER = "member"
    MEMBERS_SERVICES = "members_services"
    TEAM_LEADER = "team_leader"
    SERVICE_OFFICER = "service_officer"
    ADMINISTRATOR = "administrator"


NON_PARTY_LABELS: Final = frozenset({"", "independent", "non-aligned", "non aligned", "none"})
"""Party labels that do not form a party group, so `party` sharing never reaches their holders."""


class ViewerError(ValueError):
    """A viewer was described inconsistently (for example a member without a ward)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in person, as far as access is concerned.

    Built once per request by the sign-in layer from the users/roles table; immutable so a
    decision cannot be changed half way through a request.
    """

    user_id: str
    role: Role
    member_id: str | None = None
    party: str | None = None
    ward_id: str | None = None
    supported_member_ids: frozenset[str] = field(default_factory=frozenset)
    service_ids: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.user_id:
            raise ViewerError("a viewer needs a user id")
        if self.role is Role.MEMBER:
            missing = [
                name for name in ("member_id", "party", "ward_id") if getattr(self, name) is None
            ]
            if missing:
                raise ViewerError(
                    f"user {self.user_id!r} has role 'member' but no {', '.join(missing)}:"
                    " link the account to a member record"
                )
        elif self.member_id is not None:
            raise ViewerError(
                f"user {self.user_id!r} has role {self.role.value!r} but is linked to a member:"
                " only the 'member' role may be linked to a member record"
            )
        if self.supported_member_ids and self.role is not Role.MEMBERS_SERVICES:
            raise ViewerError(
                f"user {self.user_id!r}: only members' services staff support members"
            )
        if self.service_ids and self.role is not Role.SERVICE_OFFICER:
            raise ViewerError(f"user {self.user_id!r}: only service officers belong to services")

    @property
    def party_group(self) -> str | None:
        """The party this viewer shares `party`-level cases with, or None for independents."""
        if self.party is None or self.party.strip().casefold() in NON_PARTY_LABELS:
            return None
        return self.party

    @property
    def sees_case_content(self) -> bool:
        return self.role is not Role.ADMINISTRATOR


# --------------------------------------------------------------------------------------------
# What is known about a case, as held in the index


class Fact(StrEnum):
    """The case index columns the policy reads. The store maps each to a column."""

    MEMBER_ID = "member_id"
    WARD_ID = "ward_id"
    MEMBER_PARTY = "member_party"  # the owning member's party (a join to members)
    SERVICE_ID = "service_id"
    SHARING_LEVEL = "sharing_level"
    SHARING_COLLEAGUE_ID = "sharing_colleague_id"
    SHARING_UNTIL = "sharing_until"
    AUTHORITY_RECORDED_AT = "authority_recorded_at"  # null when no authority is recorded
    AUTHORITY_WITHDRAWN_AT = "authority_withdrawn_at"  # null unless withdrawn


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """The few facts about a case that access depends on (one index row)."""

    member_id: str
    ward_id: str
    member_party: str | None
    service_id: str | None
    sharing_level: SharingLevel
    sharing_colleague_id: str | None
    sharing_until: date | None
    authority_recorded_at: datetime | None
    authority_withdrawn_at: datetime | None
    explicit_consent: bool = False
    special_category: bool = False

    @classmethod
    def from_case(cls, case: MemberCase, member_party: str | None) -> CaseFacts:
        """Facts of a full case; `member_party` is the owning member's party."""
        authority = case.authority
        return cls(
            member_id=case.member_id,
            ward_id=case.ward_id,
            member_party=member_party,
            service_id=case.service_id,
            sharing_level=case.sharing.level,
            sharing_colleague_id=case.sharing.colleague_id,
            sharing_until=case.sharing.until,
            authority_recorded_at=authority.recorded_at if authority else None,
            authority_withdrawn_at=authority.withdrawn_at if authority else None,
            explicit_consent=bool(authority and authority.explicit_consent),
            special_category=case.special_category,
        )

    @property
    def authority_in_force(self) -> bool:
        return self.authority_recorded_at is not None and self.authority_withdrawn_at is None

    @property
    def explicit_consent_in_force(self) -> bool:
        return self.explicit_consent and self.authority_in_force

    def value(self, fact: Fact) -> Any:
        if fact is Fact.SHARING_LEVEL:
            return self.sharing_level.value
        return getattr(self, fact.value)


# --------------------------------------------------------------------------------------------
# The predicate language (no negation: see the module docstring)


@dataclass(frozen=True, slots=True)
class Eq:
    fact: Fact
    value: str


@dataclass(frozen=True, slots=True)
class In:
    fact: Fact
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class NotEq:
    """The fact is known and differs from the value (a null satisfies neither `Eq` nor this, so
    it is a comparison like `Eq`, not a negation: SQL's `<>` is unknown on a null, too)."""

    fact: Fact
    value: str


@dataclass(frozen=True, slots=True)
class IsNull:
    fact: Fact


@dataclass(frozen=True, slots=True)
class NotNull:
    fact: Fact


@dataclass(frozen=True, slots=True)
class OnOrAfter:
    """The fact (a date) is on or after the given day."""

    fact: Fact
    day: date


@dataclass(frozen=True, slots=True)
class All:
    parts: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class Always:
    pass


Predicate = Eq | NotEq | In | IsNull | NotNull | OnOrAfter | All | AnyOf | Always


def holds(predicate: Predicate, facts: CaseFacts) -> bool:
    """Evaluate a predicate over one case's facts (a null never satisfies a comparison)."""
    match predicate:
        case Eq(fact, value):
            actual = facts.value(fact)
            return actual is not None and actual == value
        case NotEq(fact, value):
            actual = facts.value(fact)
            return actual is not None and actual != value
        case In(fact, values):
            actual = facts.value(fact)
            return actual is not None and actual in values
        case IsNull(fact):
            return facts.value(fact) is None
        case NotNull(fact):
            return facts.value(fact) is not None
        case OnOrAfter(fact, day):
            actual = facts.value(fact)
            return actual is not None and actual >= day
        case All(parts):
            return all(holds(part, facts) for part in parts)
        case AnyOf(parts):
            return any(holds(part, facts) for part in parts)
        case Always():
            return True
    raise TypeError(f"unknown predicate {predicate!r}")  # pragma: no cover


CaseColumns = Mapping[Fact, ColumnElement[Any]]
"""The store's column (or joined column) for each fact: `{Fact.MEMBER_ID: cases.c.member_id}`."""


def to_sql(predicate: Predicate, columns: CaseColumns) -> ColumnElement[bool]:
    """Translate a predicate into a SQLAlchemy boolean clause over the store's columns."""
    match predicate:
        case Eq(fact, value):
            return columns[fact] == value
        case NotEq(fact, value):
            return columns[fact] != value
        case In(fact, values):
            if not values:
                return false()
            return columns[fact].in_(sorted(values))
        case IsNull(fact):
            return columns[fact].is_(None)
        case NotNull(fact):
            return columns[fact].is_not(None)
        case OnOrAfter(fact, day):
            return columns[fact] >= day
        case All(parts):
            return and_(true(), *(to_sql(part, columns) for part in parts))
        case AnyOf(parts):
            return or_(false(), *(to_sql(part, columns) for part in parts))
        case Always():
            return true()
    raise TypeError(f"unknown predicate {predicate!r}")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# The rule


class Reason(StrEnum):
    """Why a decision went the way it did: for the audit trail, never shown to the user."""

    OWN_CASE = "own_case"
    WARD_SHARING = "ward_sharing"
    PARTY_SHARING = "party_sharing"
    NAMED_COVER = "named_cover"
    SUPPORTED_MEMBER = "supported_member"
    TEAM_LEADER = "team_leader"
    SENT_TO_SERVICE = "sent_to_service"
    NOT_PERMITTED = "not_permitted"
    NO_CASE_CONTENT = "no_case_content"
    AUTHORITY_WITHDRAWN = "authority_withdrawn"
    ACTION_NOT_PERMITTED = "action_not_permitted"


@dataclass(frozen=True, slots=True)
class Grant:
    reason: Reason
    when: Predicate


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason

    def __bool__(self) -> bool:
        return self.allowed


_AUTHORITY_IN_FORCE: Final = All(
    (NotNull(Fact.AUTHORITY_RECORDED_AT), IsNull(Fact.AUTHORITY_WITHDRAWN_AT))
)


def council_day(now: datetime) -> date:
    """The calendar day in the council's zone; sharing end dates are council days."""
    if now.tzinfo is None:
        raise ValueError("access decisions need a timezone-aware time (got a naive datetime)")
    return now.astimezone(COUNCIL_ZONE).date()


def grants(
    viewer: Viewer, now: datetime, party_members: frozenset[str] | None = None
) -> tuple[Grant, ...]:
    """Every way this viewer may see a case, at this moment. The rule, written once.

    `party_members`, when given, is the set of members whose party in the directory is the
    viewer's party group, read by the caller in the same transaction as the cases: the party
    grant then tests the case's member against that set instead of the case member's party (the
    same rule, without a per-row look-up, so a database can answer it from an index).
    """
    if viewer.role is Role.MEMBER:
        assert viewer.member_id is not None and viewer.ward_id is not None
        member_grants = [
            Grant(Reason.OWN_CASE, Eq(Fact.MEMBER_ID, viewer.member_id)),
            Grant(
                Reason.WARD_SHARING,
                All(
                    (
                        Eq(Fact.SHARING_LEVEL, SharingLevel.WARD.value),
                        Eq(Fact.WARD_ID, viewer.ward_id),
                        _AUTHORITY_IN_FORCE,
                    )
                ),
            ),
        ]
        if viewer.party_group is not None:
            member_grants.append(
                Grant(
                    Reason.PARTY_SHARING,
                    All(
                        (
                            Eq(Fact.SHARING_LEVEL, SharingLevel.PARTY.value),
                            Eq(Fact.WARD_ID, viewer.ward_id),
                            (
                                Eq(Fact.MEMBER_PARTY, viewer.party_group)
                                if party_members is None
                                else In(Fact.MEMBER_ID, party_members)
                            ),
                            _AUTHORITY_IN_FORCE,
                        )
                    ),
                )
            )
        member_grants.append(
            Grant(
                Reason.NAMED_COVER,
                All(
                    (
                        Eq(Fact.SHARING_LEVEL, SharingLevel.NAMED.value),
                        Eq(Fact.SHARING_COLLEAGUE_ID, viewer.member_id),
                        AnyOf(
                            (
                                IsNull(Fact.SHARING_UNTIL),
                                OnOrAfter(Fact.SHARING_UNTIL, council_day(now)),
                            )
                        ),
                        _AUTHORITY_IN_FORCE,
                    )
                ),
            )
        )
        return tuple(member_grants)
    if viewer.role is Role.MEMBERS_SERVICES:
        return (Grant(Reason.SUPPORTED_MEMBER, In(Fact.MEMBER_ID, viewer.supported_member_ids)),)
    if viewer.role is Role.TEAM_LEADER:
        return (Grant(Reason.TEAM_LEADER, Always()),)
    if viewer.role is Role.SERVICE_OFFICER:
        return (
            Grant(
                Reason.SENT_TO_SERVICE,
                All((In(Fact.SERVICE_ID, viewer.service_ids), _AUTHORITY_IN_FORCE)),
            ),
        )
    return ()  # administrators see no case content


def visibility(viewer: Viewer, now: datetime) -> Predicate:
    """One predicate: the cases this viewer may see now."""
    return AnyOf(tuple(grant.when for grant in grants(viewer, now)))


def can_view_case(viewer: Viewer, case: CaseFacts, now: datetime) -> Decision:
    """May this viewer open this case's page? A refusal must be shown as 'not found'."""
    if not viewer.sees_case_content:
        return Decision(False, Reason.NO_CASE_CONTENT)
    for grant in grants(viewer, now):
        if holds(grant.when, case):
            return Decision(True, grant.reason)
    return Decision(False, Reason.NOT_PERMITTED)


def visible_cases_clause(
    viewer: Viewer, now: datetime, columns: CaseColumns
) -> ColumnElement[bool]:
    """The where-clause for every list, count and search of cases shown to this viewer."""
    return or_(false(), *visible_cases_parts(viewer, now, columns))


def visible_cases_parts(
    viewer: Viewer,
    now: datetime,
    columns: CaseColumns,
    party_members: frozenset[str] | None = None,
    reasons: Collection[Reason] | None = None,
) -> list[ColumnElement[bool]]:
    """The same rule as `visible_cases_clause`, one where-clause per grant (their OR is it).

    For lists over a large index: each part is a plain conjunction a database can answer from
    one index, so a list runs as a union of the parts instead of one OR that visits every case
    in the ward. The parts are pairwise disjoint (`visibility_parts`), so a list may combine
    them with UNION ALL and add up counts without de-duplicating. Empty for a viewer who sees
    no case. For `party_members` see `grants`; for `reasons` see `visibility_parts`.
    """
    return [to_sql(part, columns) for part in visibility_parts(viewer, now, party_members, reasons)]


def visibility_parts(
    viewer: Viewer,
    now: datetime,
    party_members: frozenset[str] | None = None,
    reasons: Collection[Reason] | None = None,
) -> tuple[Predicate, ...]:
    """The viewer's grants as pairwise disjoint predicates whose OR is `visibility`.

    Only a member has more than one grant. Their sharing grants each name one sharing level, so
    they exclude one another; the one overlap is the member's own case that is also shared, so
    every grant after `OWN_CASE` is limited to other members' cases (`NotEq` on the case's
    member, a fact never null).

    With `reasons`, only the parts granted for those reasons (for example a member's own cases,
    `{Reason.OWN_CASE}`, apart from the cases they cover, `{Reason.NAMED_COVER}`): a subset of
    the same rule, never a second one, so such a list is still within what the viewer may see.
    Empty when the viewer has no grant for any of them.
    """
    found = grants(viewer, now, party_members)
    if viewer.role is not Role.MEMBER:
        parts = [(grant.reason, grant.when) for grant in found]
    else:
        assert viewer.member_id is not None and found[0].reason is Reason.OWN_CASE
        others = NotEq(Fact.MEMBER_ID, viewer.member_id)
        parts = [(found[0].reason, found[0].when)]
        parts += [(grant.reason, All((others, grant.when))) for grant in found[1:]]
    return tuple(when for reason, when in parts if reasons is None or reason in reasons)


# --------------------------------------------------------------------------------------------
# What they may see of it


SPECIAL_CATEGORY_FIELDS: Final = frozenset({"description", "notes"})
"""Free-text fields where health, ethnicity, religion and similar details are written."""

CASE_FIELDS: Final = frozenset(MemberCase.model_fields)

SERVICE_OFFICER_FIELDS: Final = frozenset(
    {
        "portal_id",
        "crm_reference",
        "member_id",
        "ward_id",
        "category",
        "service_id",
        "title",
        "description",
        "status",
        "priority",
        "received_at",
        "target_date",
        "location",
        "service_requests",
    }
)
"""What a service needs to respond: the problem, where, when, and whom to answer (the member).
Not the constituent's identity, the member's notes, consent or sharing choices."""


def role_fields(viewer: Viewer) -> frozenset[str]:
    """The `MemberCase` fields this viewer's role may see of a case it may see, before the
    case's own limits (special-category details); a list row shows the resident's name only
    when `constituent` is among them."""
    return SERVICE_OFFICER_FIELDS if viewer.role is Role.SERVICE_OFFICER else CASE_FIELDS


def visible_fields(viewer: Viewer, case: CaseFacts, now: datetime) -> frozenset[str]:
    """The `MemberCase` fields this viewer may see of this case (empty when refused)."""
    if not can_view_case(viewer, case, now):
        return frozenset()
    fields = role_fields(viewer)
    if case.special_category and not case.explicit_consent_in_force:
        fields = fields - SPECIAL_CATEGORY_FIELDS
    return fields


def project_case(
    viewer: Viewer, case: MemberCase, facts: CaseFacts, now: datetime
) -> dict[str, Any]:
    """The case as this viewer may see it: only visible fields, as JSON-ready values."""
    allowed = visible_fields(viewer, facts, now)
    data = case.model_dump(mode="json", include=set(allowed))
    if viewer.role is Role.SERVICE_OFFICER and "service_requests" in data:
        data["service_requests"] = [
            request
            for request in data["service_requests"]
            if request["service_id"] in viewer.service_ids
        ]
    return data


# --------------------------------------------------------------------------------------------
# What they may do with it


class Action(StrEnum):
    ADD_NOTE = "add_note"
    UPLOAD = "upload"
    SEND_TO_SERVICE = "send_to_service"
    RESPOND = "respond"  # a service's response
    CLOSE = "close"
    REOPEN = "reopen"
    # Record or withdraw the constituent's authority, or change who the case is shared with.
    # The constituent's choices: only the owning member, the Members' Services staff who
    # support them and the team leader record them. A named cover colleague covers casework,
    # not the constituent's consent.
    MANAGE_CONSENT = "manage_consent"


_CASEWORK_ACTIONS: Final = frozenset(
    {Action.ADD_NOTE, Action.UPLOAD, Action.SEND_TO_SERVICE, Action.CLOSE, Action.REOPEN}
)
_OWNER_ACTIONS: Final = _CASEWORK_ACTIONS | {Action.MANAGE_CONSENT}
_ACTIONS_BY_REASON: Final[Mapping[Reason, frozenset[Action]]] = {
    Reason.OWN_CASE: _OWNER_ACTIONS,
    Reason.NAMED_COVER: _CASEWORK_ACTIONS,
    Reason.SUPPORTED_MEMBER: _OWNER_ACTIONS,
    Reason.TEAM_LEADER: _OWNER_ACTIONS,
    Reason.SENT_TO_SERVICE: frozenset({Action.RESPOND}),
    Reason.WARD_SHARING: frozenset(),  # sharing lets a colleague know, not act
    Reason.PARTY_SHARING: frozenset(),
}
# After withdrawal a case can be closed, and the constituent may give their authority again
# (recorded by the owner's side, as `MANAGE_CONSENT`).
_AFTER_WITHDRAWAL: Final = frozenset({Action.CLOSE, Action.MANAGE_CONSENT})


def can_act(viewer: Viewer, case: CaseFacts, action: Action, now: datetime) -> Decision:
    """May this viewer take this action on this case? Refused views are refused first."""
    view = can_view_case(viewer, case, now)
    if not view:
        return view
    if action not in _ACTIONS_BY_REASON.get(view.reason, frozenset()):
        return Decision(False, Reason.ACTION_NOT_PERMITTED)
    if case.authority_withdrawn_at is not None and action not in _AFTER_WITHDRAWAL:
        return Decision(False, Reason.AUTHORITY_WITHDRAWN)
    return Decision(True, view.reason)


def acting_for(viewer: Viewer, case: CaseFacts) -> str | None:
    """The member on whose behalf the viewer acts (for the audit trail), or None for self."""
    if viewer.role is Role.MEMBER and viewer.member_id == case.member_id:
        return None
    if viewer.role in MEMBER_SIDE_ROLES:
        return case.member_id
    return None


def may_create_case_for(viewer: Viewer, member_id: str) -> bool:
    """May this viewer record a new enquiry for this member?"""
    if viewer.role is Role.MEMBER:
        return viewer.member_id == member_id
    if viewer.role is Role.MEMBERS_SERVICES:
        return member_id in viewer.supported_member_ids
    return viewer.role is Role.TEAM_LEADER


def members_for_new_case(viewer: Viewer, all_member_ids: Iterable[str]) -> list[str]:
    """The members this viewer may record an enquiry for, in the given order."""
    return [member_id for member_id in all_member_ids if may_create_case_for(viewer, member_id)]


# --------------------------------------------------------------------------------------------
# Which pages they may open


MEMBER_SIDE_ROLES: Final = frozenset({Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER})
"""Members and the staff who act for them: they record enquiries and work whole wards."""
CASEWORK_ROLES: Final = MEMBER_SIDE_ROLES | {Role.SERVICE_OFFICER}
"""Everyone who works cases (a service officer only the cases sent to their service)."""


class Page(StrEnum):
    """A part of the portal, as a page and its JSON endpoints alike. Each route declares the
    page it belongs to (`web.guard.allow`), and the navigation shows a page's link exactly when
    `may_open` lets the viewer in, so the two can never disagree."""

    CASELOAD = "caseload"  # My caseload (a member) or Cases (staff): the viewer's lists
    CASE = "case"  # one case and every change to it (the case policy decides which case)
    WARD = "ward"
    NEW_ENQUIRY = "new_enquiry"  # the form, its options and the resident look-up
    SEARCH = "search"
    DIRECTORY = "directory"
    HEALTH = "health"
    ACCOUNTS = "accounts"  # who may sign in: each account, its role and links, its state
    NEW_ACCOUNT = "new_account"
    SESSION = "session"  # who is signed in (the JSON API's start)
    REPORTS = "reports"  # volumes and timeliness (which figures: `reports.service`)
    SCRUTINY_REPORT = "scrutiny_report"  # the six-monthly report to scrutiny


PAGE_ROLES: Final[Mapping[Page, frozenset[Role]]] = MappingProxyType(
    {
        Page.CASELOAD: CASEWORK_ROLES,
        Page.CASE: CASEWORK_ROLES,
        Page.WARD: MEMBER_SIDE_ROLES,
        Page.NEW_ENQUIRY: MEMBER_SIDE_ROLES,
        Page.SEARCH: CASEWORK_ROLES,
        Page.DIRECTORY: frozenset(Role),
        # Configuration and health: an administrator sees no case content, and caseworkers
        # have no use for the system's state.
        Page.HEALTH: frozenset({Role.ADMINISTRATOR}),
        # Accounts decide who sees what, so only administrators change them (and they see no
        # case content through them: roles and links only).
        Page.ACCOUNTS: frozenset({Role.ADMINISTRATOR}),
        Page.NEW_ACCOUNT: frozenset({Role.ADMINISTRATOR}),
        Page.SESSION: frozenset(Role),
        # Figures over the cases each may see (a service officer: their service's timeliness);
        # never an administrator, who sees no case content.
        Page.REPORTS: CASEWORK_ROLES,
        # Whole-council reporting to committee: Members' Services and the team leader.
        Page.SCRUTINY_REPORT: frozenset({Role.MEMBERS_SERVICES, Role.TEAM_LEADER}),
    }
)
"""Who may open each page: the one table routes and navigation both read. Which cases and
what they may do with each is then the case policy's (`can_view_case`, `can_act`)."""


def may_open(viewer: Viewer, page: Page) -> bool:
    """May this viewer open this page (and call its JSON endpoints)?"""
    return viewer.role in PAGE_ROLES[page]


__all__ = [
    "CASEWORK_ROLES",
    "CASE_FIELDS",
    "MEMBER_SIDE_ROLES",
    "NON_PARTY_LABELS",
    "PAGE_ROLES",
    "SERVICE_OFFICER_FIELDS",
    "SPECIAL_CATEGORY_FIELDS",
    "Action",
    "All",
    "Always",
    "AnyOf",
    "CaseColumns",
    "CaseFacts",
    "Decision",
    "Eq",
    "Fact",
    "Grant",
    "In",
    "IsNull",
    "NotEq",
    "NotNull",
    "OnOrAfter",
    "Page",
    "Predicate",
    "Reason",
    "Role",
    "Viewer",
    "ViewerError",
    "acting_for",
    "can_act",
    "can_view_case",
    "council_day",
    "grants",
    "holds",
    "may_create_case_for",
    "may_open",
    "members_for_new_case",
    "project_case",
    "role_fields",
    "to_sql",
    "visibility",
    "visibility_parts",
    "visible_cases_clause",
    "visible_cases_parts",
    "visible_fields",
]
