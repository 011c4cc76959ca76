"""A deterministic fictional council: wards, councillors, services, officers, people and cases.

Everything comes from one `random.Random(seed)` and small built-in word lists (no Faker), so the
same seed and anchor date give byte-identical data. Per-case work is a handful of dict entries:
XML and JSON are rendered only when a record is requested, which keeps 100k cases well under the
30 s budget (see `benchmarks/sandbox_seed.py`).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.sandbox.store import CASE_STATUSES, Record, Store, iso

COUNCIL_NAME = "Fenmarsh District Council"
WARD_NAMES = ("Abbey", "Brookside", "Castle Hill", "Dunmere", "Eastgate", "Fairfield")
PARTIES = (
    ("lab", "Labour"),
    ("con", "Conservative"),
    ("ld", "Liberal Democrat"),
    ("grn", "Green"),
    ("ind", "Independent"),
)
FORENAMES = [
    "Amira",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Femi",
    "Grace",
    "Hassan",
    "Isla",
    "Jack",
    "Kiran",
    "Leah",
    "Mo",
    "Nia",
    "Owen",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Vik",
    "Wendy",
    "Yusuf",
    "Zoe",
    "Aled",
    "Bryony",
    "Callum",
    "Deepa",
    "Ewan",
]
SURNAMES = [
    "Adeyemi",
    "Baker",
    "Clarke",
    "Davies",
    "Evans",
    "Fraser",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "Morgan",
    "Nowak",
    "Okafor",
    "Patel",
    "Quigley",
    "Roberts",
    "Singh",
    "Taylor",
    "Usman",
    "Vaughan",
    "Walsh",
    "Young",
    "Zielinski",
]
STREETS = [
    "Mill Lane",
    "Church Street",
    "Station Road",
    "Victoria Road",
    "Orchard Close",
    "Marsh Way",
    "Willow Drive",
    "Kings Road",
    "Bridge Street",
    "Fen Causeway",
    "Meadow View",
    "Priory Walk",
    "Granary Court",
    "Lock Road",
]
TOWN = "Fenmarsh"
#: (id, CodeKey, name, response target in working days)
SERVICES = (
    ("svc-01", "roads", "Roads and pavements", 10),
    ("svc-02", "waste", "Bins and recycling", 5),
    ("svc-03", "housing", "Council housing repairs", 10),
    ("svc-04", "planning", "Planning and building control", 15),
    ("svc-05", "asb", "Anti-social behaviour", 5),
    ("svc-06", "parks", "Parks and open spaces", 10),
    ("svc-07", "tax", "Council tax and benefits", 10),
    ("svc-08", "parking", "Parking and enforcement", 10),
    ("svc-09", "env-health", "Environmental health", 10),
    ("svc-10", "social-care", "Adult social care", 5),
    ("svc-11", "schools", "Schools and admissions", 15),
    ("svc-12", "licensing", "Licensing", 15),
)
CHANNELS = ("Web", "Email", "Phone", "face_to_face", "Letter", "Surgery")
SHARING = ("private", "ward", "party", "named")
LAWFUL_BASES = ("public-task", "consent", "legitimate-interests")
SCOPES = ("this-case", "this-case-and-follow-ups")
PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_INT = {"low": 3, "normal": 2, "high": 1, "urgent": 1}
CLOSURE_REASONS = ("resolved", "no-further-action", "referred-elsewhere", "withdrawn", "duplicate")
RAISED_BY = ("constituent", "member", "officer")
TITLES = {
    "roads": ("Pothole outside house", "Broken street light", "Uneven pavement"),
    "waste": ("Missed bin collection", "Fly-tipping in alley", "Request for new recycling box"),
    "housing": ("Damp and mould in flat", "Boiler not working", "Leaking roof"),
    "planning": ("Objection to extension", "Unauthorised building work", "Query about application"),
    "asb": ("Noise from neighbours", "Youths gathering at night", "Graffiti on wall"),
    "parks": ("Overgrown hedges in park", "Broken play equipment", "Dog fouling"),
    "tax": ("Council tax bill query", "Housing benefit delay", "Single person discount"),
    "parking": ("Parking permit refused", "Dangerous parking at school", "Penalty notice appeal"),
    "env-health": ("Rats in garden", "Food hygiene complaint", "Bonfire smoke"),
    "social-care": ("Care package review", "Blue badge application", "Carer support"),
    "schools": ("School place appeal", "School transport", "Crossing patrol missing"),
    "licensing": ("Late licence objection", "Taxi licensing complaint", "Street trading"),
}
NOTE_TEXTS = (
    "Spoke to resident by phone; details confirmed.",
    "Referred to service officer for investigation.",
    "Officer replied: work order raised.",
    "Chased service; awaiting response.",
    "Update sent to resident.",
    "Site visit arranged.",
)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _postcode(rng: random.Random, district: int) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"FM{district} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"


def build_directory(rng: random.Random) -> dict[str, Any]:
    """Wards, members, services and officers as plain dicts (the portal demo imports this)."""
    wards = [
        {"id": f"ward-{i + 1:02d}", "name": name, "postcode_district": f"FM{i + 1}"}
        for i, name in enumerate(WARD_NAMES)
    ]
    members = []
    used: set[str] = set()
    for w, ward in enumerate(wards):
        for seat in range(3):
            while True:
                name = f"{rng.choice(FORENAMES)} {rng.choice(SURNAMES)}"
                if name not in used:
                    used.add(name)
                    break
            party = PARTIES[(w + seat * 2) % len(PARTIES)] if seat else PARTIES[w % 3]
            number = w * 3 + seat + 1
            members.append(
                {
                    "id": f"cllr-{number:04d}",
                    "name": f"Cllr {name}",
                    "email": f"cllr.{name.lower().replace(' ', '.')}@fenmarsh.example",
                    "party_id": party[0],
                    "party": party[1],
                    "ward_id": ward["id"],
                }
            )
    officers = []
    services = []
    for i, (sid, key, name, target) in enumerate(SERVICES):
        forename, surname = rng.choice(FORENAMES), rng.choice(SURNAMES)
        officer = {
            "id": f"off-{i + 1:03d}",
            "name": f"{forename} {surname}",
            "email": f"{forename.lower()}.{surname.lower()}@fenmarsh.example",
            "phone": f"01632 96{i:04d}",
            "service_id": sid,
            "role": "Member enquiries officer",
        }
        officers.append(officer)
        services.append(
            {
                "id": sid,
                "code_key": key,
                "category_code": 100 + i + 1,
                "name": name,
                "member_officer_id": officer["id"],
                "member_officer_email": officer["email"],
                "response_target_working_days": target,
            }
        )
    return {
        "council": COUNCIL_NAME,
        "parties": [{"id": pid, "name": pname} for pid, pname in PARTIES],
        "wards": wards,
        "members": members,
        "services": services,
        "officers": officers,
    }


def codebook(directory: dict[str, Any]) -> list[Record]:
    """The case category code book (retrieveCodeBook "CaseCategory")."""
    return [
        {
            "CodeID": svc["category_code"],
            "CodeKey": svc["code_key"],
            "CodeValue": svc["name"],
            "Description": f"{svc['name']} (response target "
            f"{svc['response_target_working_days']} working days)",
            "CodeGroup1": svc["id"],
            "Attribute1": str(svc["response_target_working_days"]),
        }
        for svc in directory["services"]
    ]


def _add_working_days(start: datetime, days: int) -> datetime:
    out = start
    while days > 0:
        out += timedelta(days=1)
        if out.weekday() < 5:
            days -= 1
    return out


def seed(
    store: Store,
    *,
    seed: int = 1,
    cases: int = 2000,
    constituents: int = 300,
    anchor: datetime | None = None,
) -> None:
    """Fill an empty `store` with the fictional council; `anchor` is "now" for the data."""
    rng = random.Random(seed)
    now = (anchor or datetime.now(UTC)).replace(microsecond=0)
    directory = build_directory(rng)
    with store.lock:
        store.directory = directory
        store.codebook = codebook(directory)
        wards = directory["wards"]
        members = directory["members"]
        members_by_ward: dict[str, list[dict[str, Any]]] = {}
        for m in members:
            members_by_ward.setdefault(m["ward_id"], []).append(m)
        people: list[Record] = []
        created_at = iso(now - timedelta(days=800))
        for i in range(constituents):
            w = rng.randrange(len(wards))
            forename, surname = rng.choice(FORENAMES), rng.choice(SURNAMES)
            ref = str(store.next_party)
            store.next_party += 1
            person = {
                "ref": ref,
                "contactid": _uuid(rng),
                "type": "C1",
                "forename": forename,
                "surname": surname,
                "title": rng.choice(("Mr", "Ms", "Mrs", "Mx", "Dr")),
                "email": f"{forename.lower()}.{surname.lower()}{i}@mail.example",
                "phone": f"07700 9{i:05d}",
                "address_number": str(rng.randint(1, 180)),
                "street": rng.choice(STREETS),
                "city": TOWN,
                "postcode": _postcode(rng, w + 1),
                "uprn": str(100090000000 + rng.randrange(10**7)),
                "ward_id": wards[w]["id"],
                "survey_consent": rng.choice(("0", "1")),
                "created": created_at,
                "modified": created_at,
            }
            store.parties[ref] = person
            people.append(person)
        services = directory["services"]
        span = 730 * 86400
        start = now - timedelta(days=730)
        for _ in range(cases):
            person = rng.choice(people)
            member = rng.choice(members_by_ward[person["ward_id"]])
            svc = rng.choice(services)
            opened = start + timedelta(seconds=rng.randrange(span))
            age_days = (now - opened).days
            # Older cases are mostly closed; every state appears among recent ones.
            if age_days > 120 and rng.random() < 0.9:
                status = "closed"
            else:
                status = CASE_STATUSES[rng.randrange(len(CASE_STATUSES))]
            priority = PRIORITIES[rng.randrange(4)]
            sharing = SHARING[rng.randrange(4)]
            colleague = ""
            if sharing == "named":
                colleague = rng.choice(members_by_ward[person["ward_id"]])["id"]
            target = _add_working_days(opened, svc["response_target_working_days"])
            ack = opened + timedelta(hours=rng.randint(1, 48))
            modified = min(now, opened + timedelta(days=rng.randint(0, 60)))
            ref = f"{store.next_case:012d}"
            store.next_case += 1
            case: Record = {
                "ref": ref,
                "incidentid": _uuid(rng),
                "status": status,
                "opened": iso(opened),
                "modified": iso(modified),
                "title": rng.choice(TITLES[svc["code_key"]]),
                "description": f"Raised with {member['name']} about {svc['name'].lower()}.",
                "category": svc["category_code"],
                "priority": PRIORITY_INT[priority],
                "party": person["ref"],
                "raised_by_user": member["id"],
                "queue": svc["code_key"],
                "due": iso(target),
                "notes": [],
                "links": [],
                "form_name": "MemberEnquiry",
                "form": {
                    "PortalId": _uuid(rng),
                    "MemberId": member["id"],
                    "WardId": person["ward_id"],
                    "Sharing": sharing,
                    "SharingColleague": colleague,
                    "SharingUntil": iso(now + timedelta(days=90)) if colleague else "",
                    "AuthorityRecordedBy": member["id"],
                    "AuthorityRecordedAt": iso(opened),
                    "AuthorityScope": SCOPES[rng.randrange(2)],
                    "LawfulBasis": LAWFUL_BASES[rng.randrange(3)],
                    "ExplicitConsent": "1" if rng.random() < 0.3 else "0",
                    "AuthorityWithdrawnAt": "",
                    "Channel": CHANNELS[rng.randrange(len(CHANNELS))],
                    "RaisedBy": RAISED_BY[rng.randrange(3)],
                    "Priority": priority,
                    "ServiceId": svc["id"],
                    "AcknowledgedAt": "" if status == "draft" else iso(ack),
                    "NextUpdateDue": "" if status == "closed" else iso(target),
                    "TargetDate": target.date().isoformat(),
                    "ClosureReason": "",
                    "UPRN": person["uprn"],
                    "Postcode": person["postcode"],
                    "Address": f"{person['address_number']} {person['street']}, {TOWN}",
                },
            }
            if status == "closed":
                case["closed"] = case["modified"]
                case["form"]["ClosureReason"] = CLOSURE_REASONS[rng.randrange(5)]
            store.cases[ref] = case
            for n in range(rng.randint(1, 3)):
                nid = str(store.next_note)
                store.next_note += 1
                store.notes[nid] = {
                    "id": nid,
                    "annotationid": _uuid(rng),
                    "parent_type": 0,
                    "parent": ref,
                    "text": NOTE_TEXTS[rng.randrange(len(NOTE_TEXTS))],
                    "subject": None,
                    "author": member["id"] if n == 0 else svc["member_officer_id"],
                    "created": iso(opened + timedelta(hours=n * 24 + 1)),
                    "attachment": None,
                }
                case["notes"].append(nid)
        store.reindex()
        store.save_all()
