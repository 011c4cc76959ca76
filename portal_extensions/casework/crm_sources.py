"""What the portal reads from the CRM directly rather than from the index: people and files.

The resident look-up asks the CRM's party search (a resident may be known to the council
before any member's case names them), and a file stored with a case is fetched from the CRM's
document store when someone downloads it. Both go through the connector, with the CRM
profile's mapping for parties, so no CRM field name is known here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError

from connector.base import CRMClient, RawParty
from connector.errors import CRMError, CRMNotFound
from mappings.errors import MappingError
from mappings.model import Constituent, MemberCase
from portal_extensions.casework.ports import PartyQuery, PartySearchUnavailable

log = logging.getLogger(__name__)


class CRMPartySource:
    """`PartySource` over the connector's party search (`CRMClient.search_parties`, whose
    criteria both connectors offer); `to_constituent` is the CRM profile's party mapping (field
    translation stays in `mappings`)."""

    def __init__(
        self, client: CRMClient, to_constituent: Callable[[RawParty], Constituent]
    ) -> None:
        self.client = client
        self.to_constituent = to_constituent

    def find_people(self, query: PartyQuery, *, limit: int) -> list[Constituent]:
        criteria = {
            name: value
            for name, value in (
                ("name", query.surname),
                ("forename", query.forename),
                ("email", query.email),
                ("postcode", query.postcode),
            )
            if value
        }
        if not criteria:
            return []
        try:
            raw = self.client.search_parties(**criteria, limit=limit)
        except CRMError as error:  # names the CRM and operation, never the words searched
            log.warning("the resident look-up could not search the CRM: %s", error)
            raise PartySearchUnavailable from None
        people: list[Constituent] = []
        for record in raw:
            try:
                people.append(self.to_constituent(record))
            except (MappingError, ValidationError):
                log.warning("a CRM party could not be mapped for the resident look-up; skipped")
        return people


class CRMAttachmentSource:
    """`AttachmentSource` from the CRM's document store, through the connector."""

    def __init__(self, client: CRMClient) -> None:
        self.client = client

    def fetch(self, case: MemberCase, document_id: str) -> bytes | None:
        try:
            return self.client.get_attachment(document_id).content
        except CRMNotFound:
            return None


__all__ = ["CRMAttachmentSource", "CRMPartySource"]
