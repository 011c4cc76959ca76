"""Small in-memory stand-ins for the CRM client and the mapping, for store-level tests.

The raw record shape is deliberately simple (not Lagan's): these tests prove the store, sync and
outbox logic; the sandbox tests prove the same against the real connector and mapping profile.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.base import Attachment, CaseRef
from connector.errors import CRMNotFound, CRMRejected, CRMUnavailable
from mappings.errors import FieldProblem, RecordMappingError
from mappings.model import MemberCase

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
WORDS = ["pothole", "bins", "streetlight", "noise", "parking", "housing", "damp", "graffiti"]


def raw_case(n: int, modified: datetime, **extra: Any) -> dict[str, Any]:
    word = WORDS[n % len(WORDS)]
    return {
        "ref": f"1010{n:08d}",
        "modifiedon": modified.isoformat(),
        "member": f"cllr-{n % 5:04d}",
        "ward": f"ward-{n % 3:02d}",
        "title": f"{word.title()} on street {n}",
        "description": f"Report number {n} about {word}",
        "surname": f"Surname{n}",
        "forename": "Jane" if n % 2 else "Sam",
        "party": f"{1000000 + n % 50}",
        "postcode": f"FM{n % 9 + 1} 2AB",
        "notes": [],
        "status": "open",
        **extra,
    }


class FakeMapping:
    crm = "lagan"

    def reference_of(self, raw: dict[str, Any]) -> str:
        return str(raw.get("ref", "(no CRM reference)"))

    def modified_at(self, raw: dict[str, Any]) -> datetime | None:
        """As `mappings.Mapping.modified_at`: these fake records carry `modifiedon`."""
        value = raw.get("modifiedon")
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    def to_caseload(
        self, raw: dict[str, Any], *, item_problems: list[FieldProblem] | None = None
    ) -> MemberCase:
        """As `mappings.Mapping.to_caseload`: `bad_note` marks a note the mapping leaves out."""
        notes = list(raw["notes"])
        if raw.get("bad_note"):
            notes = notes[1:]  # as if its first note had a date that is not a date
            if item_problems is not None:
                item_problems.append(
                    FieldProblem("notes[0].created_at", "Notes.Note[0].Created", "not a date")
                )
        if raw.get("broken"):
            raise RecordMappingError(
                raw["ref"],
                "inbound",
                [FieldProblem("member_id", "member", "required value is missing")],
            )
        data: dict[str, Any] = {
            "crm_reference": raw["ref"],
            "member_id": raw["member"],
            "ward_id": raw["ward"],
            "constituent": {
                "crm_party_id": raw["party"],
                "forename": raw["forename"],
                "surname": raw["surname"],
                "location": {"postcode": raw["postcode"]},
            },
            "category": "roads",
            "title": raw["title"],
            "description": raw["description"],
            "channel": "email",
            "status": raw["status"],
            "received_at": "2025-01-02T10:00:00Z",
            "notes": [
                {"author": "crm", "text": text, "created_at": "2025-01-03T10:00:00Z"}
                for text in notes
            ],
        }
        if raw.get("portal_id"):
            data["portal_id"] = raw["portal_id"]
        return MemberCase.model_validate(data)

    def to_crm(self, case: MemberCase, *, for_update: bool = False) -> dict[str, Any]:
        if case.title.startswith("REJECT"):
            raise RecordMappingError(
                str(case.portal_id), "outbound", [FieldProblem("title", "title", "not allowed")]
            )
        return {
            "member": case.member_id,
            "ward": case.ward_id,
            "title": case.title,
            "description": case.description,
            "surname": case.constituent.surname,
            "forename": case.constituent.forename or "",
            "party": case.constituent.crm_party_id or "1000000",
            "postcode": case.constituent.location.postcode or "FM1 2AB",
        }


class FakeCRM:
    """An in-memory CRM with a controllable clock and a few fault switches."""

    kind = "lagan"

    def __init__(self, count: int = 0, *, start: datetime = T0) -> None:
        self.clock = start
        self.records: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(count)
        self.fail_next: list[Exception] = []
        self.fail_after_write: list[Exception] = []
        self.calls: list[str] = []
        #: note idempotency key -> case reference, as the connector stamps keys into notes
        self.note_keys: dict[str, str] = {}
        for n in range(count):
            self.tick()
            record = raw_case(n, self.clock)
            self.records[record["ref"]] = record

    def tick(self, seconds: float = 1.0) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def now(self) -> datetime:
        return self.clock

    def touch(self, ref: str, **changes: Any) -> None:
        record = self.records[ref]
        record.update(changes)
        record["modifiedon"] = self.tick().isoformat()

    def _maybe_fail(self, operation: str) -> None:
        self.calls.append(operation)
        if self.fail_next:
            raise self.fail_next.pop(0)

    def _after_write(self) -> None:
        if self.fail_after_write:
            raise self.fail_after_write.pop(0)

    # --- reads
    def iter_changed_cases(
        self, since: datetime, until: datetime | None = None, page_size: int = 200
    ) -> Iterator[list[dict[str, Any]]]:
        self._maybe_fail("iter_changed_cases")
        end = until or datetime.max.replace(tzinfo=UTC)
        chosen = sorted(
            (
                r
                for r in self.records.values()
                if since <= datetime.fromisoformat(r["modifiedon"]) < end
            ),
            key=lambda r: (r["modifiedon"], r["ref"]),
        )
        for start in range(0, len(chosen), page_size):
            yield [dict(r, notes=list(r["notes"])) for r in chosen[start : start + page_size]]

    def get_case(self, ref: str) -> dict[str, Any]:
        self._maybe_fail("get_case")
        if ref not in self.records:
            raise CRMNotFound(f"case {ref} not found", crm="lagan", operation="get_case")
        record = self.records[ref]
        return dict(record, notes=list(record["notes"]))

    def find_case_by_key(self, idempotency_key: str) -> str | None:
        for ref, record in self.records.items():
            if record.get("portal_id") == idempotency_key:
                return ref
        return None

    # --- writes
    def create_case(self, payload: dict[str, Any], idempotency_key: str) -> CaseRef:
        self._maybe_fail("create_case")
        existing = self.find_case_by_key(idempotency_key)
        if existing:
            return CaseRef(crm="lagan", reference=existing, created=False)
        if not payload.get("title"):
            raise CRMRejected("title is required", crm="lagan", operation="createCase")
        n = next(self._numbers) + 500_000
        record = raw_case(n, self.tick(), portal_id=idempotency_key)
        record.update(payload)
        self.records[record["ref"]] = record
        self._after_write()
        return CaseRef(crm="lagan", reference=record["ref"])

    def update_case(self, ref: str, payload: dict[str, Any]) -> None:
        self._maybe_fail("update_case")
        self.touch(ref, **payload)

    def add_note(
        self,
        ref: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        idempotency_key: str,
        author: str | None = None,
    ) -> None:
        self._maybe_fail("add_note")
        if ref not in self.records:
            raise CRMNotFound(f"case {ref} not found", crm="lagan", operation="add_note")
        if idempotency_key in self.note_keys:  # exactly once per key, as the connector promises
            return
        self.note_keys[idempotency_key] = ref
        names = "".join(f" [{a.name}]" for a in attachments)
        self.records[ref]["notes"].append(text + names)
        self.records[ref]["modifiedon"] = self.tick().isoformat()
        self._after_write()

    def close_case(self, ref: str, reason: str) -> None:
        self._maybe_fail("close_case")
        self.touch(ref, status="responded")

    def reopen_case(self, ref: str, reason: str) -> None:
        self._maybe_fail("reopen_case")
        self.touch(ref, status="reopened")

    def delete(self, ref: str) -> None:
        del self.records[ref]

    def unavailable(self) -> CRMUnavailable:
        return CRMUnavailable("injected outage", crm="lagan", operation="fake")


def new_case(title: str = "Fly-tipping behind the shops", **extra: Any) -> MemberCase:
    return MemberCase.model_validate(
        {
            "portal_id": str(uuid.uuid4()),
            "member_id": "cllr-0001",
            "ward_id": "ward-01",
            "constituent": {"surname": "Okafor", "forename": "Ada", "crm_party_id": "1000001"},
            "category": "waste",
            "title": title,
            "description": "Bags dumped by the bins",
            "channel": "surgery",
            "received_at": "2025-03-04T10:15:00Z",
            **extra,
        }
    )
