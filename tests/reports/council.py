"""The seeded demo council in a real store: the sandbox CRM's fictional council (wards,
councillors, services and their response targets, cases) synced through the real connector and
the Lagan mapping, exactly as `caseload demo` does, plus the portal's own service requests.

The CRM's cases carry no service requests (the portal records them when a case is sent to a
service), so each case with a service gets one here, through the store's own write for a
portal change (`update_local_case`): sent some days after it came in, due after the service's
target in working days, and, for cases the service has answered, answered a few days later,
some over Christmas and Easter so working days skip bank holidays.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from ruamel.yaml import YAML

from connector.factory import build_client
from connector.sandbox.crm import SandboxCRM
from connector.settings import CRMSettings
from mappings import load_profile
from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase, ServiceRequest
from portal_extensions.access import Role, Viewer
from portal_extensions.casework.working_days import add_working_days
from portal_extensions.directory import import_code_book, import_directory, read_directory_file
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store.accounts import StoreAccounts, create_user
from portal_extensions.store.cases import update_local_case
from portal_extensions.store.database import Store
from portal_extensions.store.schema import cases

ANCHOR = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
NOW = ANCHOR + timedelta(days=3)
CASES = 700
SEED = 11
#: Days a request may be answered over a bank holiday (sent just before each).
HOLIDAY_SENDS = (date(2024, 12, 23), date(2025, 4, 17), date(2025, 12, 23), date(2026, 4, 2))


@dataclass(frozen=True)
class Council:
    store: Store
    viewers: dict[str, Viewer]
    targets: dict[str, int]
    council_name: str


def _sync(store: Store, crm: SandboxCRM) -> None:
    url = crm.start("127.0.0.1", 0)
    try:
        ends = crm.endpoints(url)
        client = build_client(
            CRMSettings(
                kind="lagan",
                endpoint=ends["fl"],
                auth_endpoint=ends["flauth"],
                allowed_hosts=["127.0.0.1"],
                username=crm.auth.username,
                password=crm.auth.password,
                auth_mode="username_token",
                read_timeout=60,
                deadline=120,
            ),
            shared=False,
        )
        try:
            mapping = load_profile("lagan")
            codes = [mapping.to_category(raw) for raw in client.code_book()]
            import_code_book(store, codes, actor="test")
            report = Syncer(store, client, mapping, batch_size=500).run()
            assert report.problems == 0, report.summary()
        finally:
            client.close()
    finally:
        crm.stop()
        crm.store.close()


def _directory(store: Store, crm: SandboxCRM, folder: Path) -> None:
    path = folder / "directory.yaml"
    directory = crm.directory()
    with path.open("w", encoding="utf-8") as handle:
        YAML(typ="safe", pure=True).dump(
            {k: directory[k] for k in ("parties", "wards", "officers", "services", "members")},
            handle,
        )
    import_directory(store, read_directory_file(path), actor="test")


def _with_request(case: MemberCase, rng: random.Random, targets: dict[str, int]) -> MemberCase:
    received = case.received_at.astimezone(COUNCIL_ZONE)
    sent_day = received.date() + timedelta(days=rng.choice((0, 0, 1, 2, 5)))
    if rng.random() < 0.08:
        sent_day = rng.choice(HOLIDAY_SENDS)
        if sent_day < received.date():
            sent_day = received.date()
    sent_at = datetime.combine(sent_day, time(rng.randint(8, 17), 30), tzinfo=COUNCIL_ZONE)
    sent_at = max(sent_at, case.received_at)
    assert case.service_id is not None
    due = add_working_days(sent_at.astimezone(COUNCIL_ZONE).date(), targets[case.service_id])
    answered = case.status in (CaseStatus.RESPONDED, CaseStatus.CLOSED) or rng.random() < 0.3
    responded_at = None
    if answered:
        responded_at = sent_at + timedelta(days=rng.randint(0, 30), hours=rng.randint(0, 6))
        responded_at = min(responded_at, NOW)
    request = ServiceRequest(
        service_id=case.service_id, sent_at=sent_at, response_due=due, responded_at=responded_at
    )
    return MemberCase.model_validate(
        {**case.model_dump(), "service_requests": [request.model_dump()]}
    )


def _add_service_requests(store: Store, targets: dict[str, int]) -> None:
    rng = random.Random(SEED)
    with store.read() as conn:
        rows = conn.execute(sa.select(cases.c.record).order_by(cases.c.crm_reference)).all()
    changed = []
    for (record,) in rows:
        case = MemberCase.model_validate(record)
        if case.service_id is not None and case.status is not CaseStatus.DRAFT:
            changed.append(_with_request(case, rng, targets))
    with store.write() as conn:
        for case in changed:
            assert update_local_case(conn, case, now=NOW)


def _accounts(store: Store, crm_directory: dict[str, object]) -> dict[str, Viewer]:
    members = crm_directory["members"]
    officers = crm_directory["officers"]
    assert isinstance(members, list) and isinstance(officers, list)
    member = members[0]
    wanted: list[tuple[str, str, dict[str, Any]]] = [
        ("councillor", "member", {"member_id": member["id"]}),
        (
            "members-services",
            "members_services",
            {"supports": [m["id"] for m in members[:4]]},
        ),
        ("team-leader", "team_leader", {}),
        ("service-officer", "service_officer", {"officer_id": officers[0]["id"]}),
        ("administrator", "administrator", {}),
    ]
    with store.write() as conn:
        for username, role, extra in wanted:
            create_user(
                conn, username=username, display_name=username, role=role, actor="test", **extra
            )
    accounts = StoreAccounts(store)
    found = {}
    for username, _role, _extra in wanted:
        account = accounts.by_username(username)
        assert account is not None
        found[username] = account.viewer
    assert found["service-officer"].role is Role.SERVICE_OFFICER
    assert found["service-officer"].service_ids
    return found


def build_council(store: Store, folder: Path) -> Council:
    crm = SandboxCRM(seed=SEED, cases=CASES, anchor=ANCHOR)
    directory = crm.directory()
    _directory(store, crm, folder)
    targets = {s["id"]: s["response_target_working_days"] for s in directory["services"]}
    _sync(store, crm)
    _add_service_requests(store, targets)
    viewers = _accounts(store, directory)
    return Council(store, viewers, targets, str(directory.get("council") or "Fenmarsh"))


def all_cases(store: Store) -> Iterator[MemberCase]:
    """Every live case as its record (read whole, not through any report query)."""
    with store.read() as conn:
        rows = conn.execute(sa.select(cases.c.record).where(cases.c.removed_at.is_(None))).all()
    for (record,) in rows:
        yield MemberCase.model_validate(record)
