"""Optional push: POST Lagan-style case event XML to a URL when a case changes.

The event root is the event type (`PopulatedCreateCaseEvent`, `PopulatedUpdateCaseEvent`,
`PopulatedCloseCaseEvent`, `PopulatedReopenCaseEvent`) in the namespace
`http://www.kana.com/lagan/schemas/casemanagement`, carrying the case reference, status, dates
and form fields. Delivery runs on one background thread so a slow receiver never holds the
store lock; failures are logged (without bodies) and dropped, as a real CRM's outbox would retry
at best.
"""

from __future__ import annotations

import logging
import queue
import threading

import requests
from lxml import etree

from connector.sandbox.store import Record

EVENT_NS = "http://www.kana.com/lagan/schemas/casemanagement"
log = logging.getLogger("caseload.sandbox.push")


def event_xml(event: str, case: Record) -> bytes:
    root = etree.Element(f"{{{EVENT_NS}}}{event}", nsmap={"cm": EVENT_NS})
    for tag, value in (
        ("CaseReference", case["ref"]),
        ("Status", case["status"]),
        ("Opened", case.get("opened")),
        ("Closed", case.get("closed")),
        ("LastModified", case.get("modified")),
        ("Title", case.get("title")),
    ):
        if value is not None:
            etree.SubElement(root, f"{{{EVENT_NS}}}{tag}").text = str(value)
    form = etree.SubElement(root, f"{{{EVENT_NS}}}Form")
    for key, value in case.get("form", {}).items():
        field = etree.SubElement(form, f"{{{EVENT_NS}}}FormField")
        etree.SubElement(field, f"{{{EVENT_NS}}}Key").text = key
        etree.SubElement(field, f"{{{EVENT_NS}}}Value").text = value
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


class PushNotifier:
    """Queues case events and POSTs them in order from a daemon thread."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sandbox-push", daemon=True)
        self._thread.start()

    def notify(self, event: str, case: Record) -> None:
        self._queue.put(event_xml(event, case))

    def _run(self) -> None:
        session = requests.Session()
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            try:
                resp = session.post(
                    self.url,
                    data=item,
                    headers={"Content-Type": "application/xml"},
                    timeout=self.timeout,
                )
                if resp.status_code >= 300:
                    self.failed += 1
                    log.warning("push event refused: HTTP %s from receiver", resp.status_code)
                else:
                    self.sent += 1
            except requests.RequestException as exc:
                self.failed += 1
                log.warning("push event not delivered: %s", type(exc).__name__)
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued event was attempted."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
