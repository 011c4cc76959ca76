"""pytest plugin (entry point `caseload_sandbox`): the sandbox CRM as fixtures.

- `sandbox_crm`: in-process; `requests` calls to `https://crm.sandbox.test` are routed to the
  sandbox through `responses` (no sockets, no DNS). Other hosts are refused by `responses`.
- `sandbox_crm_server`: a real HTTP server on an ephemeral 127.0.0.1 port, stopped afterwards.

Both yield a `connector.sandbox.crm.SandboxHandle` (`base_url`, `fl_wsdl_url`, `fl_url`,
`flauth_url`, `dataverse_url`, `token_url`, `username`, `password`, `client_id`,
`client_secret`, `auth_style`, `store`, `faults`, `set_faults()`, `set_auth_style()`,
`count_cases(**criteria)`, `find_cases()`, `directory()`, `crm`; in-process also `mock`, the
active `responses.RequestsMock`, to add routes for other hosts).

Configure per test with indirect parametrisation or a marker::

    @pytest.mark.parametrize("sandbox_crm", ["wsse", "token", "basic"], indirect=True)
    @pytest.mark.sandbox_crm(cases=50, faults="createCase:lose_response=1", seed=7)

A string param is the auth style; a dict param is `SandboxCRM` keyword arguments. The default is
seed 1, 200 cases and auth style `any`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.sandbox.crm import SandboxCRM, SandboxHandle

DEFAULTS: dict[str, Any] = {"seed": 1, "cases": 200}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sandbox_crm(**kwargs): SandboxCRM keyword arguments for the sandbox_crm fixtures "
        "(seed, cases, faults, auth_style, auth, constituents, anchor)",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options = dict(DEFAULTS)
    marker = request.node.get_closest_marker("sandbox_crm")
    if marker is not None:
        options.update(marker.kwargs)
    param = getattr(request, "param", None)
    if isinstance(param, str):
        options["auth_style"] = param
    elif isinstance(param, dict):
        options.update(param)
    elif param is not None:
        raise TypeError("sandbox_crm params must be an auth style string or a dict of options")
    return options


@pytest.fixture
def sandbox_crm(request: pytest.FixtureRequest) -> Iterator[SandboxHandle]:
    """The sandbox CRM in-process, reached by `requests` at https://crm.sandbox.test."""
    crm = SandboxCRM(**_options(request))
    try:
        with crm.intercept() as mock:
            handle = SandboxHandle(crm, "https://crm.sandbox.test", in_process=True)
            handle.mock = mock
            yield handle
    finally:
        crm.stop()


@pytest.fixture
def sandbox_crm_server(request: pytest.FixtureRequest) -> Iterator[SandboxHandle]:
    """The sandbox CRM on a real HTTP server at http://127.0.0.1:<ephemeral port>."""
    crm = SandboxCRM(**_options(request))
    url = crm.start("127.0.0.1", 0)
    try:
        yield SandboxHandle(crm, url, in_process=False)
    finally:
        crm.stop()
