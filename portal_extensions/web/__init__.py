"""The members' portal web front: HTTP only (pages, JSON API, sign-in and security).

`create_app(settings, accounts=..., cases=..., writes=..., ...)` builds the ASGI app over the
ports of `portal_extensions.casework.ports`, which the store and the connector implement;
`portal_extensions.runtime` puts it together. The rules themselves live in `casework`; who may
open which page in `portal_extensions.access`; each feature's routes in `web/routes/`.
"""

from portal_extensions.web.app import create_app
from portal_extensions.web.guard import RouteAccess, allow, public, route_access

__all__ = [
    "RouteAccess",
    "allow",
    "create_app",
    "public",
    "route_access",
]
