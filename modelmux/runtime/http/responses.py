"""Response helpers: OpenAI-shaped errors, JSON bodies, request ids and the ModelMux headers."""

from __future__ import annotations

import os
import re
from typing import Any

import orjson
from quart import Response, g, request

from modelmux.errors import RequestError

UNROUTED_HEADERS = {
    "X-ModelMux-Provider": "",
    "X-ModelMux-Route": "",
    "X-ModelMux-Attempts": "0",
    "X-ModelMux-Cost-USD": "0.000000",  # what nothing routed costs; the cost policy sets the real value
}
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def request_id() -> str:
    """The client's X-Request-Id when it is sane, else a new one; the same for the whole request."""
    existing = getattr(g, "request_id", None)
    if existing:
        return str(existing)
    value = new_request_id(request.headers.get("x-request-id", ""))
    g.request_id = value
    return value


def new_request_id(supplied: str) -> str:
    """The client's id when it is sane (letters, digits, `._:-`, at most 128), else a fresh one."""
    return supplied if REQUEST_ID.match(supplied) else f"req_{os.urandom(16).hex()}"


def internal_error_message(request: str) -> str:
    return f"internal error in ModelMux (request {request}); see the server log"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return Response(body, status=status, headers=headers or {}, content_type="application/json")


def error_response(error: RequestError) -> Response:
    return json_response(error.body(), error.status, dict(error.headers))


def plain_error(status: int, message: str, *, code: str | None = None, param: str | None = None) -> Response:
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return error_response(RequestError(status, message, type=kind, code=code, param=param))
