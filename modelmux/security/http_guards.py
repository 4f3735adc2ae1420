"""Request guards the app installs before any route runs: the header size limit (431), CORS (off unless
`server.cors` is configured: preflight answers and response headers), and authentication of the `/v1`
endpoints that do not go through the request pipeline (`GET /v1/models`, token counting): secure by
default, every `/v1` path but the pipeline's own is authenticated here."""

from __future__ import annotations

from fnmatch import fnmatchcase

from quart import Quart, Response, current_app, request

from modelmux.plan.models import CorsPlan, Plan
from modelmux.runtime.ingress import headers_too_large
from modelmux.security.authenticator import authenticator_for

PIPELINE_PATHS = frozenset({"/v1/chat/completions", "/v1/embeddings", "/v1/messages"})  # auth is a policy there
EXPOSED_HEADERS = (
    "X-Request-Id, X-ModelMux-Provider, X-ModelMux-Route, X-ModelMux-Attempts, X-ModelMux-Cost-USD, "
    "X-ModelMux-Cache, Retry-After"
)


def _plan() -> Plan | None:
    plan: Plan | None = current_app.config["MODELMUX_SERVICES"].holder.plan
    return plan


def header_bytes() -> int:
    return sum(len(name) + len(value) + 4 for name, value in request.headers.items())


def allowed_origin(cors: CorsPlan, origin: str) -> str | None:
    """The value of Access-Control-Allow-Origin for `origin`, or None when it is not allowed."""
    for pattern in cors.allow_origins:
        if pattern == "*":
            return "*"
        if fnmatchcase(origin, pattern):
            return origin
    return None


def preflight(cors: CorsPlan, origin: str) -> Response | None:
    allowed = allowed_origin(cors, origin)
    if allowed is None:
        return None
    requested = request.headers.get("access-control-request-headers", "")
    headers = requested if "*" in cors.allow_headers else ", ".join(cors.allow_headers)
    response = Response(b"", status=204)
    response.headers["Access-Control-Allow-Methods"] = ", ".join(cors.allow_methods)
    if headers:
        response.headers["Access-Control-Allow-Headers"] = headers
    response.headers["Access-Control-Max-Age"] = str(int(cors.max_age))
    return response


async def _authenticate(plan: Plan) -> None:
    authenticator = authenticator_for(plan)
    if authenticator is not None:
        caller = await authenticator.identify({name.lower(): value for name, value in request.headers.items()})
        caller.authorize("models" if request.method in ("GET", "HEAD") else "chat", None)


def install_guards(app: Quart) -> None:
    @app.before_request
    async def guard_request() -> Response | None:
        plan = _plan()
        if plan is None:
            return None
        if header_bytes() > plan.server.max_header_size:
            raise headers_too_large(plan.server.max_header_size)
        origin = request.headers.get("origin")
        if request.method == "OPTIONS" and origin and request.headers.get("access-control-request-method"):
            return preflight(plan.server.cors, origin) if plan.server.cors else None
        if request.path.startswith("/v1/") and request.path not in PIPELINE_PATHS:
            await _authenticate(plan)
        return None

    @app.after_request
    async def cors_headers(response: Response) -> Response:
        if response.status_code == 413:  # the rest of the body was not read: the connection cannot be reused
            response.headers["Connection"] = "close"
        plan = _plan()
        origin = request.headers.get("origin")
        if plan is None or plan.server.cors is None or not origin:
            return response
        allowed = allowed_origin(plan.server.cors, origin)
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            response.vary.add("Origin")
        return response
