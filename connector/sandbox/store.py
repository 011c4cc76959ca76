"""The sandbox CRM's store: one set of records behind both the SOAP and the REST front.

Records are plain dicts (JSON-compatible) so that seeding 100k cases stays cheap, both fronts can
render them their own way, and tests can reconcile writes by any key (`count`, `find`). Every
public method takes one re-entrant lock: the HTTP server is threaded and a write must be
committed before the caller decides whether a response is sent (the "lose the response" fault).

With `db_path` the store writes each record through to SQLite (one JSON row per record) and
reloads them on start, so a council's test environment survives a restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Record = dict[str, Any]
KINDS = ("cases", "parties", "interactions", "notes", "documents")

#: Case statuses in lifecycle order (see README.md "Status codes").
CASE_STATUSES = ("draft", "open", "open-service", "responded", "closed", "reopened")
CLOSED_STATUSES = frozenset({"closed"})


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the form both fronts emit."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Parse what clients send (`Z`, offsets, or naive = UTC)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class StoreError(Exception):
    """A request the store refuses; `code` is reused as the Lagan ErrorCode / OData code."""

    def __init__(self, message: str, code: int = 1000, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class NotFound(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code=1004, status=404)


class Store:
    """Thread-safe records of one fictional council's CRM."""

    def __init__(
        self, db_path: str | Path | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.cases: dict[str, Record] = {}
        self.parties: dict[str, Record] = {}
        self.interactions: dict[str, Record] = {}
        self.notes: dict[str, Record] = {}
        self.documents: dict[str, Record] = {}
        self.codebook: list[Record] = []
        self.directory: dict[str, Any] = {}
        self._by_incident: dict[str, str] = {}
        self._by_contact: dict[str, str] = {}
        self._by_annotation: dict[str, str] = {}
        self._listeners: list[Callable[[str, Record], None]] = []
        self.next_case = 101000000001
        self.next_party = 1000001
        self.next_interaction = 5000001
        self.next_note = 7000001
        self.next_document = 1
        self._db: sqlite3.Connection | None = None
        if db_path is not None:
            self._open_db(Path(db_path))

    # ------------------------------------------------------------ persistence
    def _open_db(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records (kind TEXT, key TEXT, body TEXT, "
            "PRIMARY KEY (kind, key))"
        )
        for kind, key, body in self._db.execute("SELECT kind, key, body FROM records"):
            record = json.loads(body)
            if kind == "meta":
                if key == "codebook":
                    self.codebook = record
                elif key == "directory":
                    self.directory = record
                elif key == "counters":
                    for name, value in record.items():
                        setattr(self, name, value)
                continue
            getattr(self, kind)[key] = record
        self.reindex()

    def reindex(self) -> None:
        self._by_incident = {c["incidentid"]: ref for ref, c in self.cases.items()}
        self._by_contact = {p["contactid"]: ref for ref, p in self.parties.items()}
        self._by_annotation = {n["annotationid"]: nid for nid, n in self.notes.items()}

    @property
    def persistent(self) -> bool:
        return self._db is not None

    def is_empty(self) -> bool:
        with self.lock:
            return not self.cases and not self.parties

    def save(self, kind: str, key: str, record: Any) -> None:
        if self._db is None:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (kind, key, json.dumps(record))
        )
        if kind != "meta":
            self._db.execute(
                "INSERT OR REPLACE INTO records VALUES ('meta', 'counters', ?)",
                (json.dumps(self._counters()),),
            )

    def _counters(self) -> dict[str, int]:
        return {
            "next_case": self.next_case,
            "next_party": self.next_party,
            "next_interaction": self.next_interaction,
            "next_note": self.next_note,
            "next_document": self.next_document,
        }

    def save_all(self) -> None:
        """Write every record to SQLite in one transaction (after seeding)."""
        if self._db is None:
            return
        with self.lock:
            self._db.execute("BEGIN")
            for kind in KINDS:
                self._db.executemany(
                    "INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                    ((kind, k, json.dumps(v)) for k, v in getattr(self, kind).items()),
                )
            for key, value in (
                ("codebook", self.codebook),
                ("directory", self.directory),
                ("counters", self._counters()),
            ):
                self._db.execute(
                    "INSERT OR REPLACE INTO records VALUES ('meta', ?, ?)", (key, json.dumps(value))
                )
            self._db.execute("COMMIT")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ------------------------------------------------------------- reconciling
    def find(self, kind: str, **criteria: Any) -> list[Record]:
        """Records of `kind` whose top-level key or case form field equals every criterion.

        `store.find("cases", PortalId=pid)` looks in the case form fields; `status="closed"`
        in the record itself. This is how tests reconcile lost or duplicated writes.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown record kind {kind!r}; expected one of {KINDS}")
        with self.lock:
            records: Iterable[Record] = getattr(self, kind).values()
            out = []
            for record in records:
                form = record.get("form", {})
                if all(
                    (record[k] if k in record else form.get(k, _MISSING)) == v
                    for k, v in criteria.items()
                ):
                    out.append(record)
            return out

    def count(self, kind: str, **criteria: Any) -> int:
        """Exact number of records of `kind` matching `criteria` (see `find`)."""
        if not criteria:
            with self.lock:
                return len(getattr(self, kind))
        return len(self.find(kind, **criteria))

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {kind: len(getattr(self, kind)) for kind in KINDS}

    def on_case_change(self, listener: Callable[[str, Record], None]) -> None:
        """Call `listener(event_type, case)` after each committed case change (push events)."""
        self._listeners.append(listener)

    def _changed(self, event: str, case: Record) -> None:
        self.save("cases", case["ref"], case)
        for listener in self._listeners:
            listener(event, case)

    # ----------------------------------------------------------------- lookups
    def case(self, ref: str) -> Record:
        with self.lock:
            try:
                return self.cases[ref]
            except KeyError:
                raise NotFound(f"case {ref} not found") from None

    def case_by_incident(self, incident_id: str) -> Record:
        with self.lock:
            ref = self._by_incident.get(incident_id.lower())
            if ref is None:
                raise NotFound(f"incident {incident_id} not found")
            return self.cases[ref]

    def party(self, ref: str) -> Record:
        with self.lock:
            try:
                return self.parties[ref]
            except KeyError:
                raise NotFound(f"party {ref} not found") from None

    def party_by_contact(self, contact_id: str) -> Record:
        with self.lock:
            ref = self._by_contact.get(contact_id.lower())
            if ref is None:
                raise NotFound(f"contact {contact_id} not found")
            return self.parties[ref]

    def note_by_annotation(self, annotation_id: str) -> Record:
        with self.lock:
            nid = self._by_annotation.get(annotation_id.lower())
            if nid is None:
                raise NotFound(f"annotation {annotation_id} not found")
            return self.notes[nid]

    def category(self, code_id: int) -> Record | None:
        for code in self.codebook:
            if code["CodeID"] == code_id:
                return code
        return None

    # -------------------------------------------------------------- mutations
    def add_party(self, party: Record, *, ref: str | None = None) -> Record:
        """Insert a party (seeding and createIndividual / POST contacts)."""
        with self.lock:
            now = iso(self.clock())
            if ref is None:
                ref = str(self.next_party)
                self.next_party += 1
            party = {
                "ref": ref,
                "contactid": str(uuid.uuid4()),
                "created": now,
                "modified": now,
                **party,
            }
            party["ref"] = ref
            self.parties[ref] = party
            self._by_contact[party["contactid"]] = ref
            self.save("parties", ref, party)
            return party

    def update_party(self, ref: str, changes: Record) -> Record:
        with self.lock:
            party = self.party(ref)
            party.update(changes)
            party["modified"] = iso(self.clock())
            self.save("parties", ref, party)
            return party

    def add_interaction(
        self, channel: str, verified: bool, party_ref: str | None, case_ref: str | None
    ) -> Record:
        with self.lock:
            if party_ref is not None:
                self.party(party_ref)
            if case_ref is not None:
                self.case(case_ref)
            iid = str(self.next_interaction)
            self.next_interaction += 1
            record = {
                "id": iid,
                "channel": channel,
                "verified": verified,
                "party": party_ref,
                "case": case_ref,
                "created": iso(self.clock()),
            }
            self.interactions[iid] = record
            self.save("interactions", iid, record)
            if case_ref is not None:
                self.attach_interaction(iid, case_ref)
            return record

    def attach_interaction(self, interaction_id: str, case_ref: str) -> None:
        """Link an interaction to a case (createCase with InteractionID)."""
        with self.lock:
            inter = self.interactions[interaction_id]
            case = self.case(case_ref)
            inter["case"] = case_ref
            if interaction_id not in case.setdefault("interactions", []):
                case["interactions"].append(interaction_id)
            self.save("interactions", interaction_id, inter)
            self.save("cases", case_ref, case)

    def new_case_ref(self) -> str:
        with self.lock:
            ref = f"{self.next_case:012d}"
            self.next_case += 1
            return ref

    def add_case(self, case: Record, *, event: str | None = "PopulatedCreateCaseEvent") -> Record:
        """Insert a fully formed case record (seeding, createCase, POST incidents)."""
        with self.lock:
            now = iso(self.clock())
            if "ref" not in case:
                case["ref"] = self.new_case_ref()
            case.setdefault("incidentid", str(uuid.uuid4()))
            case.setdefault("opened", now)
            case.setdefault("modified", case["opened"])
            case.setdefault("notes", [])
            case.setdefault("links", [])
            case.setdefault("form", {})
            case.setdefault("form_name", "MemberEnquiry")
            case.setdefault("status", "open")
            self.cases[case["ref"]] = case
            self._by_incident[case["incidentid"]] = case["ref"]
            if event is not None:
                self._changed(event, case)
            return case

    def update_case(self, ref: str, changes: Record, form: dict[str, str] | None = None) -> Record:
        with self.lock:
            case = self.case(ref)
            case.update(changes)
            if form:
                case["form"].update(form)
            case["modified"] = iso(self.clock())
            self._changed("PopulatedUpdateCaseEvent", case)
            return case

    def close_case(self, ref: str, title: str, description: str | None) -> Record:
        with self.lock:
            case = self.case(ref)
            if case["status"] in CLOSED_STATUSES:
                raise StoreError(f"case {ref} is already closed", code=1010, status=409)
            now = iso(self.clock())
            case["status"] = "closed"
            case["closed"] = now
            case["modified"] = now
            case["form"]["ClosureReason"] = title
            case.setdefault("events", []).append(
                {"EventTitle": f"Closed: {title}", "Created": now, "AdditionalInfo": description}
            )
            self._changed("PopulatedCloseCaseEvent", case)
            return case

    def reopen_case(self, ref: str, reason: str | None) -> Record:
        with self.lock:
            case = self.case(ref)
            if case["status"] not in CLOSED_STATUSES:
                raise StoreError(f"case {ref} is not closed, so it cannot be reopened", 1011, 409)
            now = iso(self.clock())
            case["status"] = "reopened"
            case.pop("closed", None)
            case["modified"] = now
            case.setdefault("events", []).append(
                {"EventTitle": "Reopened", "Created": now, "AdditionalInfo": reason}
            )
            self._changed("PopulatedReopenCaseEvent", case)
            return case

    def link_cases(self, ref: str, target: str, link_type: int) -> None:
        with self.lock:
            case, other = self.case(ref), self.case(target)
            case["links"].append({"LinkedCase": target, "Key": str(link_type), "Inverse": False})
            other["links"].append({"LinkedCase": ref, "Key": str(link_type), "Inverse": True})
            now = iso(self.clock())
            case["modified"] = other["modified"] = now
            self._changed("PopulatedUpdateCaseEvent", case)
            self._changed("PopulatedUpdateCaseEvent", other)

    def add_note(
        self,
        parent_type: int,
        parent_id: str,
        text: str,
        *,
        author: str = "sandbox",
        subject: str | None = None,
        attachment: Record | None = None,
        created: str | None = None,
        annotation_id: str | None = None,
        touch: bool = True,
    ) -> Record:
        """Add a note to a case (parent_type 0) or interaction (1); optionally with a file."""
        with self.lock:
            if parent_type == 0:
                parent = self.case(parent_id)
            elif parent_type == 1:
                if parent_id not in self.interactions:
                    raise NotFound(f"interaction {parent_id} not found")
                parent = self.interactions[parent_id]
            else:
                raise StoreError(f"ParentType {parent_type} is not 0 (case) or 1 (interaction)")
            nid = str(self.next_note)
            self.next_note += 1
            note: Record = {
                "id": nid,
                "annotationid": annotation_id or str(uuid.uuid4()),
                "parent_type": parent_type,
                "parent": parent_id,
                "text": text,
                "subject": subject,
                "author": author,
                "created": created or iso(self.clock()),
                "attachment": attachment,
            }
            self.notes[nid] = note
            self._by_annotation[note["annotationid"]] = nid
            parent.setdefault("notes", []).append(nid)
            self.save("notes", nid, note)
            if parent_type == 0 and touch:
                parent["modified"] = note["created"]
                self._changed("PopulatedUpdateCaseEvent", parent)
            elif parent_type == 1:
                self.save("interactions", parent_id, parent)
            return note

    def add_document(self, name: str, doc_type: int, body: str) -> Record:
        with self.lock:
            ref = f"DOC-{self.next_document:08d}"
            self.next_document += 1
            doc = {"ref": ref, "name": name, "type": doc_type, "body": body}
            self.documents[ref] = doc
            self.save("documents", ref, doc)
            return doc

    def document(self, ref: str) -> Record:
        with self.lock:
            try:
                return self.documents[ref]
            except KeyError:
                raise NotFound(f"document {ref} not found") from None


class _Missing:
    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


_MISSING = _Missing()
