"""The OpenAI-compatible endpoints: chat completions (JSON and SSE), embeddings, models."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from quart import Blueprint, Response, current_app, request

from modelmux.errors import RequestError
from modelmux.plan.models import Plan
from modelmux.runtime.http.responses import error_response, json_response, request_id
from modelmux.runtime.ingress import (
    body_too_large,
    body_too_slow,
    check_chat_request,
    check_embeddings_request,
    parse_json_body,
)
from modelmux.runtime.middleware.base import RequestContext
from modelmux.runtime.outcome import Outcome
from modelmux.runtime.services import Services

openai_routes = Blueprint("openai", __name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def services() -> Services:
    found: Services = current_app.config["MODELMUX_SERVICES"]
    return found


def current_plan() -> Plan:
    plan = services().holder.plan
    if plan is None:
        raise RequestError(503, "ModelMux has no plan loaded yet", type="api_error", code="not_ready")
    return plan


async def read_body(plan: Plan) -> dict[str, Any]:
    """The JSON body, read piece by piece so a body over the limit is refused as soon as it is over,
    whether it announced its length or came chunked."""
    limit = plan.server.max_body_size
    length = request.content_length
    if length is not None and length > limit:
        raise body_too_large(limit)
    raw = bytearray()
    try:
        async with asyncio.timeout(request.body_timeout):
            async for piece in request.body:
                raw += piece
                if len(raw) > limit:
                    raise body_too_large(limit)
    except TimeoutError:
        raise body_too_slow(request.body_timeout) from None
    return parse_json_body(bytes(raw), max_depth=plan.server.max_json_depth)


def lower_headers() -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


@openai_routes.post("/v1/chat/completions")
async def chat_completions() -> Response:
    return await _serve("chat", check_chat_request)


@openai_routes.post("/v1/embeddings")
async def embeddings() -> Response:
    return await _serve("embeddings", check_embeddings_request)


async def _serve(endpoint: str, check: Callable[[dict[str, Any]], None]) -> Response:
    started = time.perf_counter()
    plan = current_plan()

    async def checked_body() -> dict[str, Any]:
        body = await read_body(plan)
        check(body)
        return body

    ctx = RequestContext(request_id(), plan, endpoint, {}, lower_headers(), request.remote_addr, started)
    ctx.pending_body = checked_body
    outcome = await services().pipeline(plan)(ctx)
    return _respond(outcome)


@openai_routes.get("/v1/models")
async def list_models() -> Response:
    plan = current_plan()
    created = int(services().started_at)
    data = [_model_entry(plan, name, created) for name in plan.public_models()]
    return json_response({"object": "list", "data": data})


@openai_routes.get("/v1/models/<path:model>")
async def get_model(model: str) -> Response:
    plan = current_plan()
    if model not in plan.models:
        return error_response(
            RequestError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        )
    return json_response(_model_entry(plan, model, int(services().started_at)))


def _model_entry(plan: Plan, name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": ",".join(plan.providers_for(name))}


def _respond(outcome: Outcome) -> Response:
    if outcome.stream is not None:
        response = Response(
            outcome.stream,
            status=outcome.status,
            content_type="text/event-stream; charset=utf-8",
            headers={**SSE_HEADERS, **outcome.headers},
        )
        response.timeout = None
        return response
    response = json_response(outcome.body or b"{}", outcome.status, outcome.headers)
    outcome.complete()
    return response
