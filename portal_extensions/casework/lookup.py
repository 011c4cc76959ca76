"""Finding a resident on the new enquiry form: in the case index and in the council's CRM.

A councillor types a name, a postcode or an email address; the portal shows the people it
knows by that, each with their previous enquiries (only those the viewer may see: the index is
asked *as the viewer*, through the access policy), and how those enquiries were authorised and
shared. Picking one fills in the resident's details (name, email, phone, postcode), never
their consent or sharing: those are asked for each enquiry, with what was agreed before shown
as information only.

The CRM side is the `PartySource` port (the connector with a party mapping, or a fake): people
the CRM knows are shown too, without enquiries, because the CRM says nothing about casework.
Both connectors search parties by exact surname, forename, email or postcode, so a full name
typed in the box ("Quinn Usman") is asked as forename and surname (`party_queries`). When the
CRM knows a resident the index also knows (the same CRM party), the CRM's record is the one
shown and filled in: a case synced from the CRM carries only the party's display name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime

from mappings.model import COUNCIL_ZONE, CaseStatus, Constituent, MemberCase
from portal_extensions.access import Viewer, visible_fields
from portal_extensions.casework.auditing import record
from portal_extensions.casework.ports import (
    AuditTrail,
    CaseRepository,
    PartyQuery,
    PartySearchUnavailable,
    PartySource,
)
from portal_extensions.casework.wording import council_date
from portal_extensions.store.audit import Outcome

LOOKUP_LIMIT = 20
MIN_LOOKUP_LENGTH = 2
_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$", re.IGNORECASE)


def normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def resident_matches(constituent: Constituent, case: MemberCase | None, text: str) -> bool:
    """The one matching rule (the store narrows in SQL first, then applies this): part of the
    name, the whole email address, or the whole postcode (spaces ignored)."""
    wanted = normalise(text)
    if len(wanted) < MIN_LOOKUP_LENGTH:
        return False
    if wanted in normalise(constituent.display_name):
        return True
    if constituent.email and wanted == constituent.email.casefold():
        return True
    squashed = wanted.replace(" ", "")
    postcodes = [constituent.location.postcode]
    if case is not None:
        postcodes.append(case.location.postcode)
    return any(code and squashed == code.casefold().replace(" ", "") for code in postcodes)


@dataclass(frozen=True, slots=True)
class PreviousEnquiry:
    portal_id: str
    title: str
    received: str
    status: str
    authority: str
    sharing: str


@dataclass
class ResidentMatch:
    constituent: Constituent
    source: str  # "Caseload" or "Council CRM"
    previous: list[PreviousEnquiry] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.constituent.display_name

    @property
    def prefill(self) -> dict[str, str]:
        """What picking this resident fills in on the form: who they are and how to reach
        them, never a consent or sharing choice (asked for each enquiry)."""
        return _prefill(self.constituent)

    @property
    def pick(self) -> str:
        """Names this match among a look-up's answers without saying who it is (the page posts
        it back with the words searched to fill the form in)."""
        return hashlib.sha256(_key(self.constituent).encode()).hexdigest()[:24]


SHARING_SHORT = {
    "private": "Not shared",
    "ward": "Shared with ward councillors",
    "party": "Shared with ward councillors of the same party",
    "named": "Shared with a named colleague",
}


def _authority_text(case: MemberCase) -> str:
    authority = case.authority
    if authority is None:
        return "No authority recorded"
    if authority.withdrawn_at is not None:
        return "Authority withdrawn"
    scope = authority.scope.value.replace("_", " ")
    consent = "; explicit consent for sensitive details" if authority.explicit_consent else ""
    return f"Authority given ({scope}){consent}"


def _key(constituent: Constituent) -> str:
    if constituent.crm_party_id:
        return f"crm:{constituent.crm_party_id}"
    return "|".join(
        normalise(part or "")
        for part in (
            constituent.display_name,
            constituent.email,
            constituent.location.postcode,
        )
    )


def party_queries(text: str) -> list[PartyQuery]:
    """The CRM searches for what was typed, in order, until one finds somebody: an email
    address or a postcode as it is; one word as a surname; several as forename(s) and surname
    ("Quinn Usman"), then as one surname (a double-barrelled name typed with a space)."""
    wanted = " ".join(text.split())
    if not wanted:
        return []
    if "@" in wanted:
        return [PartyQuery(email=wanted)]
    if _POSTCODE.match(wanted):
        return [PartyQuery(postcode=wanted.upper())]
    *given, family = wanted.split(" ")
    if not given:
        return [PartyQuery(surname=family)]
    return [PartyQuery(surname=family, forename=" ".join(given)), PartyQuery(surname=wanted)]


def _crm_people(parties: PartySource, text: str) -> list[Constituent]:
    for query in party_queries(text):
        people = parties.find_people(query, limit=LOOKUP_LIMIT)
        if people:
            return people
    return []


def _prefill(constituent: Constituent) -> dict[str, str]:
    values = {
        "crm_party_id": constituent.crm_party_id or "",
        "forename": constituent.forename or "",
        "surname": constituent.surname,
        "email": constituent.email or "",
        "phone": constituent.phone or "",
        "postcode": constituent.location.postcode or "",
    }
    return {name: value for name, value in values.items() if value}


def search_fingerprint(text: str, key: bytes) -> str:
    """An HMAC of the words searched (normalised): the audit row can show that a given search
    was made (an investigator computes the same for the words they suspect) without holding
    a resident's name, postcode or email, since audit rows outlive case erasure."""
    return hmac.new(key, normalise(text).encode(), hashlib.sha256).hexdigest()


def _lookup_detail(text: str, matches: list[ResidentMatch], key: bytes) -> dict[str, object]:
    """The look-up's audit detail: the search's fingerprint, and each resident shown by their
    identifiers (CRM party and the earlier enquiries shown), never by name."""
    return {
        "search": search_fingerprint(text, key),
        "shown": [
            {
                "source": "crm" if match.source == "Council CRM" else "caseload",
                "crm_party_id": match.constituent.crm_party_id,
                "cases": [enquiry.portal_id for enquiry in match.previous],
            }
            for match in matches
        ],
    }


@dataclass
class LookupResult:
    matches: list[ResidentMatch]
    crm_unavailable: bool = False  # a CRM is configured but could not be searched
    crm_connected: bool = True  # False: no CRM is configured, only the index was searched


def find_residents(
    viewer: Viewer,
    text: str,
    *,
    cases: CaseRepository,
    parties: PartySource | None,
    audit: AuditTrail,
    now: datetime,
    search_key: bytes,
) -> LookupResult:
    """People matching `text` in the index (with the enquiries the viewer may see) and in the
    CRM (`parties`; None when no CRM is configured). Audited as a look-up with whom it showed
    and a fingerprint of what was asked, keyed with `search_key` (`_lookup_detail`)."""
    text = text.strip()[:200]
    found: dict[str, ResidentMatch] = {}
    crm_unavailable = False
    if len(normalise(text)) >= MIN_LOOKUP_LENGTH:
        for stored in cases.find_by_constituent(viewer, now, text, limit=LOOKUP_LIMIT * 3):
            case = stored.case
            allowed = visible_fields(viewer, stored.facts, now)
            if not {"constituent", "authority", "sharing"} <= allowed:
                continue
            if not resident_matches(case.constituent, case, text):
                continue
            key = _key(case.constituent)
            match = found.get(key)
            if match is None:
                if len(found) >= LOOKUP_LIMIT:
                    continue
                match = found[key] = ResidentMatch(case.constituent, "Caseload")
            match.previous.append(
                PreviousEnquiry(
                    portal_id=str(case.portal_id),
                    title=case.title,
                    received=council_date(case.received_at.astimezone(COUNCIL_ZONE)),
                    status="Closed" if case.status is CaseStatus.CLOSED else "Open",
                    authority=_authority_text(case),
                    sharing=SHARING_SHORT.get(case.sharing.level.value, ""),
                )
            )
        if parties is not None and len(found) < LOOKUP_LIMIT:
            try:
                people = _crm_people(parties, text)
            except PartySearchUnavailable:
                crm_unavailable = True
                people = []
            for person in people:
                key = _key(person)
                if key in found:
                    # The CRM's own record of a party the index knows: whole name, contact.
                    found[key].constituent = person
                    continue
                if not resident_matches(person, None, text):
                    continue
                found[key] = ResidentMatch(person, "Council CRM")
                if len(found) >= LOOKUP_LIMIT:
                    break
        record(
            audit,
            viewer,
            now,
            "constituent_lookup",
            Outcome.ALLOWED,
            subject_type="search",
            detail=_lookup_detail(text, list(found.values()), search_key),
        )
    return LookupResult(list(found.values()), crm_unavailable, crm_connected=parties is not None)


def picked_resident(result: LookupResult, pick: str) -> ResidentMatch | None:
    """The match a page's "Use these details" names (`ResidentMatch.pick`), or None."""
    return next((match for match in result.matches if match.pick == pick), None)


__all__ = [
    "LOOKUP_LIMIT",
    "LookupResult",
    "PreviousEnquiry",
    "ResidentMatch",
    "find_residents",
    "normalise",
    "party_queries",
    "picked_resident",
    "resident_matches",
    "search_fingerprint",
]
