"""The Anthropic-format front door: `POST /v1/messages` and `POST /v1/messages/count_tokens`.

A Messages request is translated into the canonical OpenAI chat request and runs through the same plan
and pipeline as `/v1/chat/completions` (any provider can answer it); the answer is translated back into
an Anthropic `message` or Anthropic SSE events. Errors, whatever raised them, are in Anthropic's shape
with the same status, and every response carries `request-id`. The auth policy takes Anthropic's
`x-api-key` header as a credential; `anthropic-version` and `anthropic-beta` are accepted and not
checked.
"""

from __future__ import annotations

import logging
import time

import orjson
from quart import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from modelmux.errors import RequestError
from modelmux.frontdoor.anthropic_request import estimate_input_tokens, to_openai_request
from modelmux.frontdoor.anthropic_response import anthropic_error_body, new_message_id, to_anthropic_message
from modelmux.frontdoor.anthropic_stream import AnthropicStreamTranslator, anthropic_events, message_events
from modelmux.runtime.http.openai_routes import SSE_HEADERS, current_plan, lower_headers, read_body, services
from modelmux.runtime.http.responses import internal_error_message, json_response, request_id
from modelmux.runtime.ingress import check_chat_request
from modelmux.runtime.middleware.base import RequestContext
from modelmux.runtime.outcome import Outcome

log = logging.getLogger("modelmux.server")

anthropic_routes = Blueprint("anthropic", __name__)

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


@anthropic_routes.post("/v1/messages")
async def create_message() -> Response:
    started = time.perf_counter()
    plan = current_plan()
    body = await read_body(plan)
    chat = to_openai_request(body)
    check_chat_request(chat)
    ctx = RequestContext(request_id(), plan, "chat", chat, lower_headers(), request.remote_addr, started)
    outcome = await services().pipeline(plan)(ctx)
    model = str(body["model"])
    if chat.get("stream"):
        return _stream(outcome, model, estimate_input_tokens(chat))
    return _message(outcome, model)


@anthropic_routes.post("/v1/messages/count_tokens")
async def count_tokens() -> Response:
    """The gateway's estimate of the request's input tokens: a function of the body alone. No upstream
    call and no pipeline policy (the app's `/v1` guard authenticates it)."""
    body = await read_body(current_plan())
    chat = to_openai_request({**body, "max_tokens": 1, "stream": False})
    return json_response({"input_tokens": estimate_input_tokens(chat)}, headers=_ids())


def _ids() -> dict[str, str]:
    return {"request-id": request_id()}


def _message(outcome: Outcome, model: str) -> Response:
    completion = orjson.loads(outcome.body or b"{}")
    message = to_anthropic_message(completion, model, new_message_id())
    response = json_response(message, outcome.status, {**outcome.headers, **_ids()})
    outcome.complete()
    return response


def _stream(outcome: Outcome, model: str, input_tokens: int) -> Response:
    headers = {**SSE_HEADERS, **outcome.headers, **_ids()}
    if outcome.stream is None:  # a policy answered a stream request with JSON (a cache hit)
        message = to_anthropic_message(orjson.loads(outcome.body or b"{}"), model, new_message_id())
        outcome.complete()
        return Response(b"".join(message_events(message)), content_type=SSE_CONTENT_TYPE, headers=headers)
    translator = AnthropicStreamTranslator(new_message_id(), model, input_tokens, request_id=request_id())
    response = Response(
        anthropic_events(outcome.stream, translator),
        status=outcome.status,
        content_type=SSE_CONTENT_TYPE,
        headers=headers,
    )
    response.timeout = None
    return response


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    rid = request_id()
    body = anthropic_error_body(status, message, request_id=rid)
    return json_response(body, status, {**(headers or {}), "request-id": rid})


@anthropic_routes.errorhandler(RequestError)
async def on_request_error(error: RequestError) -> Response:
    return error_response(error.status, error.message, dict(error.headers))


@anthropic_routes.errorhandler(HTTPException)
async def on_http_error(error: HTTPException) -> Response:
    return error_response(error.code or 500, error.description or error.name)


@anthropic_routes.errorhandler(Exception)
async def on_unexpected(error: Exception) -> Response:
    log.exception("unexpected error while serving %s", request_id())
    return error_response(500, internal_error_message(request_id()))
