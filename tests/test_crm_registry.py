"""Every CRM is known in the same places: a connector subpackage, a schema module, a profile.

`connector` and `mappings` never import each other, so each keeps its own registry of CRM
kinds; this test (which may import both) holds them to the same list. Adding a CRM is
`connector/<crm>/` + `mappings/schemas/<crm>.py` + `mappings/profiles/<kind>.yaml` + a sandbox
front; forgetting one of them fails here, naming what is missing.
"""

from __future__ import annotations

import pytest

from connector.factory import kinds
from mappings import bundled_profiles, crm_kinds, load_profile, schema_for

CONNECTOR_KINDS = kinds()


def test_the_connector_and_the_mappings_know_the_same_crm_kinds() -> None:
    assert crm_kinds() == CONNECTOR_KINDS


@pytest.mark.parametrize("kind", CONNECTOR_KINDS)
def test_every_registered_kind_has_a_bundled_profile_and_a_schema(kind: str) -> None:
    assert kind in bundled_profiles(), f"no mappings/profiles/{kind}.yaml for CRM kind {kind!r}"
    assert schema_for(kind).name == kind
    assert load_profile(kind).crm == kind


@pytest.mark.parametrize("name", sorted(bundled_profiles()))
def test_every_bundled_profile_names_a_registered_kind(name: str) -> None:
    assert load_profile(name).crm in CONNECTOR_KINDS
