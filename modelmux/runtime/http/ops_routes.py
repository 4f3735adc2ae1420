"""Operations endpoints: health, readiness, the plan, reload and provider state.

`/admin/*` needs the admin token when `server.admin_token` is set, or a key or JWT with an admin role when
`auth` is configured; with neither, it answers loopback clients only (modelmux.security.admin).
"""

from __future__ import annotations

import os

from quart import Blueprint, Response, current_app, g, request

from modelmux.cli.plan import plan_document
from modelmux.errors import RequestError
from modelmux.observability.health import provider_report
from modelmux.observability.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from modelmux.runtime.http.responses import json_response
from modelmux.runtime.reload import touch_marker
from modelmux.runtime.services import Services
from modelmux.security.admin import check_admin

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


@ops_routes.before_request
async def admin_gate() -> None:
    """Every `/admin` route of this blueprint is checked here, before it runs, so none can forget to."""
    if request.path.startswith("/admin"):
        headers = {name.lower(): value for name, value in request.headers.items()}
        await check_admin(services().holder.plan, headers, request.remote_addr)
        g.modelmux_admin = True


def require_admin() -> None:
    """The admin routes' own check: `admin_gate` has admitted this request (token, admin role, loopback)."""
    if not g.get("modelmux_admin", False):
        raise RequestError(403, "the admin endpoints need an admin", type="permission_error", code="admin_forbidden")


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


@ops_routes.get("/admin/explain")
async def admin_explain() -> Response:
    """Why a request would go where it goes, on the live router and provider state (`modelmux explain`)."""
    require_admin()
    from modelmux.routing.explain import explain, query_facts

    svc = services()
    plan = svc.holder.plan
    if plan is None:
        raise RequestError(503, "no plan is loaded", type="api_error", code="no_plan")
    return json_response(explain(svc.run.router, plan, query_facts(request.args)).to_json())


@ops_routes.get("/admin/providers")
async def admin_providers() -> Response:
    require_admin()
    svc = services()
    return json_response({"worker": os.getpid(), "providers": provider_report(svc.holder.plan, svc.state)})


@ops_routes.get("/metrics")
async def metrics() -> Response:
    """Prometheus text exposition (no admin token: it carries names and numbers, never a secret)."""
    svc = services()
    plan = svc.holder.plan
    observability = plan.sections.get("observability") if plan else None
    if not ((observability or {}).get("metrics") or {}).get("enabled", True):
        raise RequestError(404, "metrics are off (observability.metrics.enabled: false)", code="metrics_disabled")
    body = svc.telemetry.metrics.scrape(plan, svc.holder.generation, svc.state)
    return Response(body, status=200, content_type=METRICS_CONTENT_TYPE)
