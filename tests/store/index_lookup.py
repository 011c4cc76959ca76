"""Reading one indexed case back by its CRM reference or portal id, for tests of sync, the
outbox and imports that check what reached the index. (The portal reads cases as a viewer,
through `store.case_reads`; nothing in production looks a case up by CRM reference.)"""

from __future__ import annotations

import sqlalchemy as sa

from mappings.model import MemberCase
from portal_extensions.store.schema import cases


def get_case(
    conn: sa.Connection, *, portal_id: str | None = None, crm_reference: str | None = None
) -> MemberCase | None:
    """One indexed case (removed ones too) by portal id or CRM reference, as the mapped record."""
    if (portal_id is None) == (crm_reference is None):
        raise ValueError("give exactly one of portal_id and crm_reference")
    column = cases.c.portal_id if portal_id is not None else cases.c.crm_reference
    record = conn.execute(
        sa.select(cases.c.record).where(column == (portal_id or crm_reference))
    ).scalar_one_or_none()
    return None if record is None else MemberCase.model_validate(record)
