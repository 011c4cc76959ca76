"""The Lagan connector wired to a sandbox handle, and create payloads made by the real profile."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from connector.errors import CRMError
from connector.lagan import LaganClient
from connector.resilience import CRMCircuitOpen
from connector.settings import CRMSettings
from mappings import load_profile
from mappings.model import MemberCase
from tests.connector.conftest import fast_resilience

T = TypeVar("T")


def no_dns(host: str) -> list[str]:
    """crm.sandbox.test is served in-process; these machines have no DNS to ask."""
    return []


def lagan_client(handle: Any, mode: str = "username_token", **extra: Any) -> LaganClient:
    """A client of the sandbox's FL front. The result cap is learned unless `extra` sets it."""
    host = handle.base_url.split("://", 1)[1].split(":")[0].split("/")[0]
    settings = CRMSettings(
        endpoint=handle.fl_url,
        auth_endpoint=handle.flauth_url,
        allowed_hosts=[host],
        username=handle.username,
        password=handle.password,
        auth_mode=mode,
        **extra,
    )
    return LaganClient(settings, resilience=fast_resilience("lagan", attempts=12), resolver=no_dns)


def member_case(handle: Any, title: str, party: int = 0, **extra: Any) -> MemberCase:
    """A new enquiry for one of the sandbox's residents (or a new one with `party=-1`)."""
    constituent: dict[str, Any] = {"surname": "Okafor", "forename": "Ada"}
    if party >= 0:
        resident = handle.store.find("parties")[party]
        constituent = {
            "surname": f"{resident['forename']} {resident['surname']}",
            "crm_party_id": resident["ref"],
        }
    return MemberCase.model_validate(
        {
            "portal_id": str(uuid.uuid4()),
            "member_id": "cllr-0001",
            "ward_id": "ward-01",
            "constituent": constituent,
            "category": "waste",
            "title": title,
            "description": "Bags dumped by the bins",
            "channel": "surgery",
            "received_at": "2025-03-04T10:15:00Z",
            **extra,
        }
    )


@functools.cache
def _profile() -> Any:
    return load_profile("lagan")


def create_payload(case: MemberCase) -> dict[str, Any]:
    """What the outbox sends for a new case: the profile's outbound mapping, nothing by hand."""
    return dict(_profile().to_crm(case))


def update_payload(case: MemberCase) -> dict[str, Any]:
    return dict(_profile().to_crm(case, for_update=True))


def deliver(write: Callable[[], T]) -> T:
    """What the outbox does: repeat the same write until the CRM confirms it."""
    for _ in range(60):
        try:
            return write()
        except CRMCircuitOpen:
            time.sleep(0.06)
        except CRMError as exc:
            if not exc.retryable:
                raise
    raise AssertionError("the write was never confirmed")
