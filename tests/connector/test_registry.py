"""The registry of CRM kinds: filled by the CRM subpackages, asked by everything else.

An unknown kind is refused by name, with the kinds that exist, wherever it is met: building a
client, `caseload crm check`, reading a pushed event, validating `crm.kind`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector import factory
from connector.base import CaseEvent, CRMClient
from connector.errors import CRMError
from connector.factory import (
    UnknownCRMKind,
    build_client,
    case_event_parser,
    check_kind,
    extra_probes,
    kinds,
    register,
    registration,
)
from connector.health import check_connection
from connector.lagan import LaganClient
from connector.settings import CRMSettings
from tests.connector.conftest import dataverse_settings, lagan_settings


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registry as shipped, restored after the test registers its own kinds."""
    kinds()  # load the shipped CRMs first
    monkeypatch.setattr(factory, "_registry", dict(factory._registry))
    yield


def _unknown(kind: str = "salesforce") -> CRMSettings:
    """Settings naming a kind nobody registered (as a hand-built or stale object would)."""
    return lagan_settings().model_copy(update={"kind": kind})


def test_the_shipped_crm_subpackages_register_their_kinds() -> None:
    assert kinds() == ("dynamics365", "lagan")
    assert registration("lagan").builder is LaganClient
    assert registration("dynamics365").label == "Dynamics 365 / Dataverse"


@pytest.mark.parametrize(
    "settings", [lagan_settings(), dataverse_settings()], ids=["lagan", "dynamics365"]
)
def test_build_client_builds_the_client_the_kind_registered(settings: CRMSettings) -> None:
    client = build_client(settings, shared=False)
    try:
        assert isinstance(client, CRMClient)
        assert client.kind == settings.kind
    finally:
        client.close()


def test_build_client_refuses_an_unknown_kind_by_name() -> None:
    with pytest.raises(UnknownCRMKind) as refused:
        build_client(_unknown(), shared=False)
    message = str(refused.value)
    assert "'salesforce'" in message and "dynamics365, lagan" in message
    assert isinstance(refused.value, CRMError) and refused.value.crm == "salesforce"


def test_check_kind_is_a_value_error_for_settings_validators() -> None:
    assert check_kind("lagan") == "lagan"
    with pytest.raises(ValueError, match="unknown CRM kind 'lagn'; Caseload knows dynamics365"):
        check_kind("lagn")


def test_crm_check_reports_an_unknown_kind_by_name_and_contacts_nothing() -> None:
    report = check_connection(_unknown("siebel"))
    assert not report.ok and report.crm == "siebel"
    first, *rest = report.checks
    assert first.name == "kind" and not first.ok
    assert "'siebel'" in first.detail and "dynamics365, lagan" in first.detail
    assert [c.name for c in rest] == ["allowlist", "dns", "tls", "auth", "latency"]
    assert all(not c.ok and c.detail.startswith("not probed") for c in rest)


def test_each_crm_brings_its_own_health_probes() -> None:
    assert list(extra_probes(lagan_settings())) == ["wsdl-hash"]
    assert "matches the pin" in extra_probes(lagan_settings())["wsdl-hash"]()
    assert dict(extra_probes(dataverse_settings())) == {}
    with pytest.raises(UnknownCRMKind, match="'salesforce'"):
        extra_probes(_unknown())


def test_crm_check_runs_the_wsdl_pin_probe_only_for_lagan() -> None:
    lagan = check_connection(lagan_settings(allowed_hosts=["crm.example.org"]))
    dataverse = check_connection(dataverse_settings(allowed_hosts=["crm.example.org"]))
    assert [c.name for c in lagan.checks][:2] == ["allowlist", "wsdl-hash"]
    assert "wsdl-hash" not in [c.name for c in dataverse.checks]


def test_case_event_parsers_are_asked_by_kind() -> None:
    parse = case_event_parser("lagan")
    assert parse is not None
    assert case_event_parser("dynamics365") is None
    with pytest.raises(UnknownCRMKind, match="'salesforce'"):
        case_event_parser("salesforce")


@pytest.mark.usefixtures("scratch_registry")
def test_a_new_crm_is_one_register_call_away() -> None:
    def build(settings: CRMSettings) -> Any:
        return LaganClient(settings)

    def parse(body: bytes) -> CaseEvent:
        return CaseEvent(crm="acme", event="Changed", reference=body.decode())

    register("acme", builder=build, label="Acme CRM", event_parser=parse)
    assert kinds() == ("acme", "dynamics365", "lagan")
    assert check_kind("acme") == "acme"
    parser = case_event_parser("acme")
    assert parser is not None and parser(b"42").reference == "42"


@pytest.mark.usefixtures("scratch_registry")
def test_two_crms_cannot_share_a_kind_but_a_reimport_may_register_again() -> None:
    shipped = registration("lagan")
    register("lagan", builder=LaganClient, label="Lagan / Verint FL")  # the same builder

    def other(settings: CRMSettings) -> Any:
        return LaganClient(settings)

    with pytest.raises(ValueError, match=r"already registered by connector\.lagan\.client"):
        register("lagan", builder=other, label="Another Lagan")
    assert registration("lagan").builder is shipped.builder


@pytest.mark.parametrize("kind", ["", " lagan", "lagän"])
def test_a_kind_must_be_a_plain_name(kind: str, scratch_registry: None) -> None:
    with pytest.raises(ValueError, match="plain ASCII name"):
        register(kind, builder=LaganClient, label="x")
