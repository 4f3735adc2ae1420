"""The Quart application: blueprints, error handlers, request ids and the serving lifecycle."""

from __future__ import annotations

import asyncio
import logging
import os
import time

from quart import Quart, Response
from werkzeug.exceptions import HTTPException

from modelmux.errors import RequestError
from modelmux.plan.models import Plan
from modelmux.routing.health import HealthChecker
from modelmux.runtime import heap
from modelmux.runtime.holder import PlanHolder
from modelmux.runtime.http.anthropic_routes import anthropic_routes
from modelmux.runtime.http.fast_lane import FastLane
from modelmux.runtime.http.openai_routes import openai_routes
from modelmux.runtime.http.ops_routes import ops_routes
from modelmux.runtime.http.responses import (
    UNROUTED_HEADERS,
    error_response,
    internal_error_message,
    plain_error,
    request_id,
)
from modelmux.runtime.reload import ConfigWatcher, marker_path
from modelmux.runtime.services import Services
from modelmux.security.audit_writer import close_writers
from modelmux.security.http_guards import install_guards

log = logging.getLogger("modelmux.server")


def create_app(
    plan: Plan | None,
    *,
    source: str | None = None,
    public: dict[str, object] | None = None,
    services: Services | None = None,
    watch: bool = False,
) -> Quart:
    """The app for one plan. With `watch`, the config files are watched and reloaded on change."""
    app = Quart("modelmux")
    svc = services or Services(PlanHolder(None, source))
    if plan is not None:
        svc.install(plan, public or {})
    svc.started_at = time.time()
    app.config["MODELMUX_SERVICES"] = svc
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = plan.server.request_timeout if plan else 600
    app.config["MAX_CONTENT_LENGTH"] = None
    app.register_blueprint(openai_routes)
    app.register_blueprint(anthropic_routes)
    app.register_blueprint(ops_routes)
    _install_handlers(app)
    install_guards(app)  # header size (431), CORS, auth of the /v1 endpoints outside the pipeline
    if os.environ.get("MODELMUX_FAST_LANE", "1") != "0":  # "0" serves every route through Quart (for A/B runs)
        lane = FastLane(app.asgi_app, svc, app.config["BODY_TIMEOUT"])
        app.asgi_app = lane  # type: ignore[method-assign,assignment]

    stop_watching = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    @app.before_serving
    async def start_watching() -> None:
        await svc.start()  # joins the replicas sharing Redis (breakers, limits) when the plan has `redis:`
        await svc.costs.start(lambda: svc.holder.plan)  # usage ledger migrations, scheduled reports
        checker = HealthChecker(lambda: svc.holder.plan, svc.state, svc.run.adapter)  # active health checks
        tasks.append(asyncio.create_task(checker.run(stop_watching)))
        if watch and source is not None:
            watcher = ConfigWatcher(svc, marker=marker_path())
            tasks.append(asyncio.create_task(watcher.run(stop_watching)))
        heap.settle(reclaim_frozen=False)  # start-up objects (modules, the plan) are never scanned again

    @app.after_serving
    async def close_clients() -> None:
        stop_watching.set()
        for task in tasks:
            try:
                await asyncio.wait_for(task, timeout=5.0)
            except TimeoutError:
                task.cancel()
        await svc.aclose()
        await asyncio.to_thread(close_writers)  # audit entries written out and fsynced

    return app


def _install_handlers(app: Quart) -> None:
    @app.after_request
    async def stamp_request_id(response: Response) -> Response:
        """Every response carries the request id and the routing headers (empty when nothing was routed)."""
        response.headers["X-Request-Id"] = request_id()
        for name, value in UNROUTED_HEADERS.items():
            if name not in response.headers:
                response.headers[name] = value
        return response

    @app.errorhandler(RequestError)
    async def on_request_error(error: RequestError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    async def on_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        messages = {
            404: "unknown endpoint; ModelMux serves /v1/chat/completions, /v1/embeddings and /v1/models",
            405: "method not allowed for this endpoint",
            413: "the request body is too large",
        }
        return plain_error(status, messages.get(status, error.description or error.name))

    @app.errorhandler(Exception)
    async def on_unexpected(error: Exception) -> Response:
        log.exception("unexpected error while serving %s", request_id())
        return plain_error(500, internal_error_message(request_id()))
