"""The allowlist: only the council's hosts, never metadata, private ranges or other schemes."""

from __future__ import annotations

import pytest
import requests
import responses

from connector.errors import ResidencyViolation
from connector.residency import HostAllowlist
from connector.transport import GuardedSession


def _guard(*hosts: str, answers: dict[str, list[str]] | None = None) -> HostAllowlist:
    table = answers or {}
    return HostAllowlist(hosts, crm="lagan", resolver=lambda host: table.get(host, ["203.0.113.7"]))


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/",
        "https://[fd00:ec2::254]/",
        "https://10.0.0.5/lagan/services/FL",
        "https://192.168.1.10/",
        "https://172.16.0.1/",
        "https://[::1]/",
        "https://127.0.0.1/",
        "https://169.254.10.10/",
        "https://evil.example.com/",
        "https://crm.council.gov.uk.evil.example/",
    ],
)
def test_hosts_not_listed_are_refused(url: str) -> None:
    with pytest.raises(ResidencyViolation):
        _guard("crm.council.gov.uk").check_url(url)


def test_metadata_address_is_refused_even_when_listed() -> None:
    with pytest.raises(ResidencyViolation, match="metadata"):
        _guard("169.254.169.254").check_url("https://169.254.169.254/")


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://crm.council.gov.uk/x", "gopher://crm.council.gov.uk/", "crm"],
)
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(ResidencyViolation):
        _guard("crm.council.gov.uk").check_url(url)


def test_plain_http_only_for_listed_loopback() -> None:
    guard = _guard("crm.council.gov.uk", "127.0.0.1", "localhost")
    assert guard.check_url("http://127.0.0.1:8080/x") == "127.0.0.1"
    assert guard.check_url("http://localhost:8080/x") == "localhost"
    with pytest.raises(ResidencyViolation, match="https"):
        guard.check_url("http://crm.council.gov.uk/x")


def test_listed_private_address_is_allowed_for_an_intranet_crm() -> None:
    assert _guard("10.1.2.3").check_url("https://10.1.2.3/lagan") == "10.1.2.3"


def test_listed_name_rebinding_to_metadata_or_loopback_is_refused() -> None:
    guard = _guard(
        "crm.council.gov.uk",
        answers={"crm.council.gov.uk": ["169.254.169.254"]},
    )
    with pytest.raises(ResidencyViolation, match="resolves"):
        guard.check_url("https://crm.council.gov.uk/x")
    guard = _guard("crm.council.gov.uk", answers={"crm.council.gov.uk": ["127.0.0.1"]})
    with pytest.raises(ResidencyViolation):
        guard.check_url("https://crm.council.gov.uk/x")


def test_credentials_in_urls_are_refused() -> None:
    with pytest.raises(ResidencyViolation):
        _guard("crm.council.gov.uk").check_url("https://u:p@crm.council.gov.uk/")


def test_each_destination_is_logged_by_host_only(caplog) -> None:
    caplog.set_level("INFO", logger="connector.residency")
    _guard("crm.council.gov.uk").check_url("https://crm.council.gov.uk/lagan?case=123")
    assert "host=crm.council.gov.uk" in caplog.text
    assert "case=123" not in caplog.text


def _session() -> GuardedSession:
    return GuardedSession(
        HostAllowlist(["127.0.0.1"], crm="lagan"), connect_timeout=1, read_timeout=1
    )


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.0.0.1/",
        "http://192.168.0.1/admin",
        "file:///etc/passwd",
        "https://elsewhere.example.org/",
    ],
)
def test_redirects_off_the_list_are_refused_before_following(target: str) -> None:
    session = _session()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get("http://127.0.0.1:8999/x", status=302, headers={"Location": target})
        with pytest.raises(ResidencyViolation):
            session.get("http://127.0.0.1:8999/x")
        assert len(rsps.calls) == 1


def test_session_refuses_to_send_to_unlisted_host_and_keeps_tls_verification() -> None:
    session = _session()
    with pytest.raises(ResidencyViolation):
        session.get("https://example.org/")
    assert session.trust_env is False
    assert "file://" not in session.adapters
    with responses.RequestsMock() as rsps:
        rsps.get("http://127.0.0.1:8999/ok", body="fine")
        session.get("http://127.0.0.1:8999/ok", verify=False)
        assert rsps.calls[0].request.req_kwargs["verify"] is True  # type: ignore[attr-defined]


def test_client_refuses_an_endpoint_off_the_list(make_lagan) -> None:
    with pytest.raises(ResidencyViolation):
        make_lagan(endpoint="https://169.254.169.254/lagan/services/FL")


def test_requests_exceptions_are_not_raised_for_refusals() -> None:
    with pytest.raises(ResidencyViolation) as info:
        _session().get("http://169.254.169.254/")
    assert not isinstance(info.value, requests.RequestException)
