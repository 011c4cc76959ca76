"""The embedded-defaults demo: sandbox CRM + local store + portal, all on loopback.

`caseload demo` (and `make demo`) runs this. The sandbox CRM and the SQLite store both keep their
data under the demo's data directory, so a restart keeps what was entered; every start gives
each demo user a fresh random password, printed and written to `demo-credentials.json`
(readable by the owner only).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from connector.base import CRMClient
from connector.factory import build_client
from connector.sandbox.crm import SandboxCRM
from connector.settings import CRMSettings
from mappings import load_profile
from portal_extensions.config import Config, StoreSettings
from portal_extensions.directory import import_code_book, import_directory, read_directory_file
from portal_extensions.jobs.worker import Worker
from portal_extensions.runtime import Runtime
from portal_extensions.store.accounts import create_user, find_user, set_password
from portal_extensions.store.database import Store, open_store

#: The demo syncs more often than a council would (300 s by default), so a change made in the
#: sandbox CRM shows in the portal while someone is trying it.
SYNC_INTERVAL = timedelta(seconds=30)
DISPATCH_INTERVAL = timedelta(seconds=2)


@dataclass(frozen=True)
class DemoSignIn:
    """One demo account, as printed for the person trying the demo."""

    role: str
    username: str
    password: str
    who: str


@dataclass(frozen=True)
class DemoPlan:
    """Which directory entries the demo's accounts stand for."""

    member: dict[str, Any]
    ward_colleague: dict[str, Any]
    supported: list[dict[str, Any]]
    officer: dict[str, Any]


def plan_accounts(directory: dict[str, Any]) -> DemoPlan:
    """Pick a member, a ward colleague, members to support and a member-officer."""
    members = directory["members"]
    member = members[0]
    colleague = next(m for m in members[1:] if m["ward_id"] == member["ward_id"])
    officer = directory["officers"][0]
    return DemoPlan(member, colleague, [member, colleague], officer)


class Demo:
    """Start and stop the whole demo council; `start()` returns the sign-ins."""

    def __init__(self, data_dir: Path, *, seed: int = 1, cases: int = 2000) -> None:
        self.data_dir = data_dir
        self.seed = seed
        self.cases = cases
        self.worker: Worker | None = None
        self.crm: SandboxCRM | None = None
        self.store: Store | None = None
        self.runtime: Runtime | None = None
        self.council_name = "Demo Council"
        self.first_sync = ""

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "demo-credentials.json"

    def start(self) -> list[DemoSignIn]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.crm = SandboxCRM(seed=self.seed, cases=self.cases, db=self.data_dir / "sandbox.sqlite")
        base_url = self.crm.start("127.0.0.1", 0)
        endpoints = self.crm.endpoints(base_url)
        directory = self.crm.directory()
        self.council_name = str(directory.get("council") or self.council_name)
        crm_settings = CRMSettings(
            kind="lagan",
            endpoint=endpoints["fl"],
            auth_endpoint=endpoints["flauth"],
            allowed_hosts=["127.0.0.1"],
            username=self.crm.auth.username,
            password=self.crm.auth.password,
            auth_mode="username_token",
            search_result_cap=self.crm.lagan.search_cap,
        )
        store_settings = StoreSettings(data_dir=self.data_dir)
        self.store = open_store(store_settings)
        client: CRMClient = build_client(crm_settings, shared=False)
        self.runtime = Runtime(
            Config(store=store_settings, crm=crm_settings),
            store=self.store,
            client=client,
            mapping=load_profile("lagan"),
        )
        self._import_directory(directory)
        import_code_book(self.store, self.runtime.categories(), actor="demo")
        # The same worker loop as `caseload serve` and `caseload worker`: its first sync runs
        # here, so the portal opens on a full index and the summary can be printed.
        self.worker = Worker(
            self.runtime, sync_interval=SYNC_INTERVAL, dispatch_interval=DISPATCH_INTERVAL
        )
        report = self.worker.sync_now()
        self.first_sync = (
            report.summary() if report else "another worker is syncing this store; it goes on"
        )
        sign_ins = self._accounts(plan_accounts(directory))
        self._write_credentials(sign_ins)
        self.worker.start_in_thread()
        return sign_ins

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=10)
        if self.runtime is not None:
            self.runtime.close()
        if self.crm is not None:
            self.crm.stop()
            self.crm.store.close()

    # ------------------------------------------------------------------ steps

    def _import_directory(self, directory: dict[str, Any]) -> None:
        assert self.store is not None
        # Written out as a file, the form an administrator would import it in.
        path = self.data_dir / "directory.yaml"
        with path.open("w", encoding="utf-8") as handle:
            YAML(typ="safe", pure=True).dump(
                {
                    key: directory[key]
                    for key in ("parties", "wards", "officers", "services", "members")
                },
                handle,
            )
        import_directory(self.store, read_directory_file(path), actor="demo")

    def _accounts(self, plan: DemoPlan) -> list[DemoSignIn]:
        assert self.store is not None
        wanted: list[tuple[str, str, str, dict[str, Any]]] = [
            ("member", "councillor", plan.member["name"], {"member_id": plan.member["id"]}),
            (
                "member",
                "colleague",
                plan.ward_colleague["name"],
                {"member_id": plan.ward_colleague["id"]},
            ),
            (
                "members_services",
                "members-services",
                "Members' Services officer",
                {"supports": [m["id"] for m in plan.supported]},
            ),
            ("team_leader", "team-leader", "Members' Services team leader", {}),
            (
                "service_officer",
                "service-officer",
                plan.officer["name"],
                {"officer_id": plan.officer["id"]},
            ),
            ("administrator", "administrator", "CRM administrator", {}),
        ]
        sign_ins: list[DemoSignIn] = []
        with self.store.write() as conn:
            for role, username, who, extra in wanted:
                password = secrets.token_urlsafe(12)
                if find_user(conn, username) is None:
                    create_user(
                        conn,
                        username=username,
                        display_name=who,
                        role=role,
                        password=password,
                        actor="demo",
                        **extra,
                    )
                else:
                    set_password(conn, username, password, actor="demo")
                sign_ins.append(DemoSignIn(role, username, password, who))
        return sign_ins

    def _write_credentials(self, sign_ins: list[DemoSignIn]) -> None:
        payload = json.dumps([asdict(s) for s in sign_ins], indent=2)
        fd = os.open(self.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload + "\n")
        os.chmod(self.credentials_file, 0o600)


__all__ = ["Demo", "DemoSignIn", "plan_accounts"]
