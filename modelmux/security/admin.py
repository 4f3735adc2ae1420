"""Who may use `/admin/*`: the admin token, or (when `auth` is configured) a key or JWT whose role has
`admin: true`; with neither `auth` nor `server.admin_token`, loopback clients only."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from modelmux.errors import RequestError
from modelmux.plan.models import Plan
from modelmux.security.authenticator import authenticator_for, presented_credential


async def check_admin(plan: Plan | None, headers: Mapping[str, str], remote: str | None) -> None:
    """Return when the request may use `/admin`; else raise 401 (no or wrong credential) or 403."""
    token = plan.server.admin_token if plan else None
    authenticator = authenticator_for(plan) if plan else None
    presented = presented_credential(headers)
    if token is not None and presented is not None and hmac.compare_digest(presented.encode(), token.reveal().encode()):
        return
    if authenticator is not None:
        caller = await authenticator.identify(headers)
        if caller.identity.admin:
            return
        raise RequestError(
            403,
            "the admin endpoints need an admin role; this credential's role is not one",
            type="permission_error",
            code="admin_forbidden",
        )
    if token is not None:
        raise RequestError(
            401,
            "the admin endpoints need the admin token (Authorization: Bearer ...)",
            type="authentication_error",
            code="invalid_admin_token",
        )
    if not is_loopback(remote):
        raise RequestError(
            403,
            "the admin endpoints answer loopback clients only when no admin_token is set",
            type="permission_error",
            code="admin_forbidden",
        )


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return address in ("localhost", "<local>")
