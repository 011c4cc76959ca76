"""`code_book()` answers on both CRMs against the sandbox, with the same categories."""

from __future__ import annotations

import pytest

from connector.errors import CRMNotFound
from tests.connector.test_sandbox_integration import _dataverse, _lagan


@pytest.mark.sandbox_crm(cases=2)
def test_code_book_lists_the_same_categories_on_both_crms(sandbox_crm) -> None:
    seeded = {(c["CodeID"], c["CodeKey"], c["CodeValue"]) for c in sandbox_crm.store.codebook}
    assert len(seeded) >= 5

    lagan = {
        (int(c["CodeID"]), c["CodeKey"], c["CodeValue"]) for c in _lagan(sandbox_crm).code_book()
    }
    options = _dataverse(sandbox_crm).code_book()
    dataverse = {
        (o["Value"], o["ExternalValue"], o["Label"]["UserLocalizedLabel"]["Label"]) for o in options
    }
    assert lagan == dataverse == seeded


@pytest.mark.sandbox_crm(cases=2)
def test_sandbox_metadata_serves_only_the_category_picklist(sandbox_crm) -> None:
    client = _dataverse(sandbox_crm)
    path = (
        "EntityDefinitions(LogicalName='incident')/Attributes(LogicalName='title')"
        "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=OptionSet"
    )
    with pytest.raises(CRMNotFound):
        client._request("GET", path, "EntityDefinitions")
    plain = path.replace("'title'", "'cr_categorycode'").split("?")[0]
    body = client._request("GET", plain, "EntityDefinitions").json()
    assert body["LogicalName"] == "cr_categorycode" and "OptionSet" not in body
