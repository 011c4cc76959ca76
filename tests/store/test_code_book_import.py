"""Categories from either CRM's code book land in the store with the codes cases carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from connector.base import CRMClient
from mappings import load_profile
from portal_extensions.directory import import_code_book
from portal_extensions.store.database import Store
from portal_extensions.store.schema import categories
from tests.connector.test_sandbox_integration import _dataverse, _lagan


@pytest.mark.sandbox_crm(cases=2)
@pytest.mark.parametrize(("crm", "connect"), [("lagan", _lagan), ("dynamics365", _dataverse)])
def test_code_book_imports_keys_and_names_from_both_crms(
    sandbox_crm, store: Store, crm: str, connect: Callable[[Any], CRMClient]
) -> None:
    client = connect(sandbox_crm)
    mapping = load_profile(crm)
    count = import_code_book(
        store, [mapping.to_category(c) for c in client.code_book()], actor="test"
    )
    seeded = {(c["CodeKey"], c["CodeValue"]) for c in sandbox_crm.store.codebook}
    assert count == len(seeded)
    with store.read() as conn:
        stored = {(row.code, row.name) for row in conn.execute(sa.select(categories))}
    assert stored == seeded
