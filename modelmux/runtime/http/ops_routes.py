"""Operations endpoints: health, readiness, the plan, reload and provider state.

`/admin/*` needs the admin token when `server.admin_token` is set; without one it answers loopback
clients only.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from quart import Blueprint, Response, current_app, request

from modelmux.cli.plan import plan_document
from modelmux.errors import RequestError
from modelmux.runtime.http.responses import json_response
from modelmux.runtime.reload import touch_marker
from modelmux.runtime.services import Services

ops_routes = Blueprint("ops", __name__)


def services() -> Services:
    found: Services = current_app.config["MODELMUX_SERVICES"]
    return found


@ops_routes.get("/health")
async def health() -> Response:
    """Liveness, with the plan this worker serves (so a fleet's convergence after a reload shows)."""
    holder = services().holder
    plan = holder.plan
    return json_response(
        {
            "status": "ok",
            "fingerprint": plan.fingerprint if plan else None,
            "generation": holder.generation,
            "worker": os.getpid(),
        }
    )


@ops_routes.get("/health/ready")
async def ready() -> Response:
    svc = services()
    plan = svc.holder.plan
    if plan is None:
        return json_response({"status": "not_ready", "reason": "no plan loaded"}, 503)
    usable = [p.name for p in plan.providers if svc.state.provider(p).available()[0]]
    if not usable:
        return json_response({"status": "not_ready", "reason": "every provider is unavailable"}, 503)
    return json_response({"status": "ready", "fingerprint": plan.fingerprint, "providers_available": len(usable)})


def require_admin() -> None:
    plan = services().holder.plan
    token = plan.server.admin_token if plan else None
    if token is not None:
        supplied = request.headers.get("authorization", "")
        scheme, _, value = supplied.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.reveal().encode()):
            raise RequestError(
                401,
                "the admin endpoints need the admin token (Authorization: Bearer ...)",
                type="authentication_error",
                code="invalid_admin_token",
            )
        return
    if not _is_loopback(request.remote_addr):
        raise RequestError(
            403,
            "the admin endpoints answer loopback clients only when no admin_token is set",
            type="permission_error",
            code="admin_forbidden",
        )


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return address in ("localhost", "<local>")


@ops_routes.get("/admin/plan")
async def admin_plan() -> Response:
    require_admin()
    svc = services()
    plan = svc.holder.plan
    last = svc.holder.last_reload
    document = plan_document(plan, dict(svc.public)) if plan else None
    return json_response(
        {
            "generation": svc.holder.generation,
            "plan": document,
            "last_reload": None
            if last is None
            else {
                "ok": last.ok,
                "fingerprint": last.fingerprint,
                "generation": last.generation,
                "diagnostics": list(last.diagnostics),
                "at": last.at,
            },
        }
    )


@ops_routes.post("/admin/reload")
async def admin_reload() -> Response:
    require_admin()
    svc = services()
    result = await svc.reload()
    if result is None:
        raise RequestError(409, "this server was started without a config file to reload", code="no_config_file")
    if result.ok:
        touch_marker()  # with several workers, the others reload too
    plan = svc.holder.plan
    body = {
        "ok": result.ok,
        "fingerprint": plan.fingerprint if plan else None,
        "previous_fingerprint": svc.previous_fingerprint if result.ok else None,
        "changes": svc.last_changes if result.ok else None,
        "generation": svc.holder.generation,
        "diagnostics": [d.render() for d in result.diagnostics],
    }
    return json_response(body, 200 if result.ok else 422)


@ops_routes.get("/admin/providers")
async def admin_providers() -> Response:
    require_admin()
    svc = services()
    plan = svc.holder.plan
    snapshot = svc.state.snapshot()
    providers = []
    for provider in plan.providers if plan else ():
        providers.append({"name": provider.name, "type": provider.type, **snapshot.get(provider.name, {})})
    return json_response({"providers": providers})
