"""Realistic Bedrock Runtime traffic: Converse bodies, ConverseStream event-stream frames, errors, and a
SigV4 check of what a client sent.

`encode_message` is an event-stream ENCODER (prelude, headers, payload, both CRC32s) independent of the
decoder under test; `event`, `exception` and `stream_body` build ConverseStream answers as Bedrock
frames them (`:event-type`, `:content-type`, `:message-type` headers; JSON payloads padded with the
`p` field Bedrock adds). `verify_sigv4` recomputes a recorded request's signature with botocore's
signer from the bytes that arrived and raises `AssertionError` when it does not match.
"""

from __future__ import annotations

import hmac
import re
import secrets
import string
import struct
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from tests.fakes.server import RecordedRequest

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
REGION = "us-east-1"
# AWS's documented example keys: never valid anywhere.
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
_PADDING = string.ascii_letters + string.digits
Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Typed:
    """A header value with an explicit wire type (2 int8, 3 int16, 5 int64, 8 timestamp, 9 uuid...)."""

    kind: int
    value: Any


def _header_value(value: Any) -> bytes:
    if isinstance(value, Typed):
        kind, raw = value.kind, value.value
    elif isinstance(value, bool):
        return bytes([0 if value else 1])
    elif isinstance(value, int):
        kind, raw = 4, value
    elif isinstance(value, bytes):
        kind, raw = 6, value
    else:
        kind, raw = 7, str(value)
    fixed = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}
    if kind in fixed:
        return bytes([kind]) + struct.pack(fixed[kind], raw)
    if kind in (6, 7):
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        return bytes([kind]) + struct.pack(">H", len(data)) + data
    if kind == 9:
        return bytes([9]) + bytes(raw)
    return bytes([kind])


def encode_headers(headers: Mapping[str, Any]) -> bytes:
    out = b""
    for name, value in headers.items():
        raw = name.encode()
        out += bytes([len(raw)]) + raw + _header_value(value)
    return out


def encode_message(headers: Mapping[str, Any], payload: bytes = b"") -> bytes:
    """One event-stream message with correct prelude and message CRC32s."""
    head = encode_headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _padded(payload: Mapping[str, Any], pad: int | None) -> bytes:
    width = len(_PADDING) if pad is None else pad
    return orjson.dumps({**payload, "p": _PADDING[:width]})


def event(event_type: str, payload: Mapping[str, Any], *, pad: int | None = None) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, _padded(payload, pad))


def exception(kind: str, message: str) -> bytes:
    """An exception inside a stream (throttlingException, modelStreamErrorException...)."""
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, orjson.dumps({"message": message}))


def error_message(code: str, message: str) -> bytes:
    """The generic event-stream error message (`:message-type: error`)."""
    return encode_message({":message-type": "error", ":error-code": code, ":error-message": message})


def usage(input_tokens: int = 25, output_tokens: int = 12, *, cache_read: int = 0) -> dict[str, Any]:
    out = {"inputTokens": input_tokens, "outputTokens": output_tokens}
    out["totalTokens"] = input_tokens + output_tokens + cache_read
    if cache_read:
        out["cacheReadInputTokens"] = cache_read
    return out


def tool_use_id() -> str:
    return "tooluse_" + "".join(secrets.choice(_PADDING) for _ in range(22))


def converse_response(
    text: str | None = "Hello! How can I help you today?",
    *,
    tool_uses: Sequence[tuple[str, str, dict[str, Any]]] = (),
    stop_reason: str | None = None,
    usage_: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Converse response; `tool_uses` are (toolUseId, name, input)."""
    content: list[dict[str, Any]] = [] if text is None else [{"text": text}]
    content += [{"toolUse": {"toolUseId": i, "name": n, "input": inp}} for i, n, inp in tool_uses]
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
        "usage": usage_ or usage(),
        "metrics": {"latencyMs": 412},
    }


def stream_events(
    text_pieces: Iterable[str] = ("Hello", "! How can I", " help you today?"),
    *,
    tool_uses: Sequence[tuple[str, str, Sequence[str]]] = (),
    stop_reason: str | None = None,
    usage_: dict[str, Any] | None = None,
) -> list[Event]:
    """messageStart, text deltas (Bedrock sends no contentBlockStart for text), tool blocks
    `(toolUseId, name, input JSON pieces)`, messageStop, metadata."""
    events: list[Event] = [("messageStart", {"role": "assistant"})]
    pieces = list(text_pieces)
    index = 0
    if pieces:
        events += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces]
        events.append(("contentBlockStop", {"contentBlockIndex": 0}))
        index = 1
    for id_, name, json_pieces in tool_uses:
        start = {"toolUse": {"toolUseId": id_, "name": name}}
        events.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        for piece in json_pieces:
            delta = {"toolUse": {"input": piece}}
            events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    reason = stop_reason or ("tool_use" if tool_uses else "end_turn")
    events.append(("messageStop", {"stopReason": reason}))
    events.append(("metadata", {"usage": usage_ or usage(), "metrics": {"latencyMs": 380}}))
    return events


def stream_body(events: Iterable[Event]) -> bytes:
    """The ConverseStream body: one frame per event, padding varying as Bedrock's does."""
    return b"".join(event(name, data, pad=(7 * i) % 37 + 1) for i, (name, data) in enumerate(events))


def error_headers(kind: str, **extra: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-requestid": str(uuid.uuid4()),
        **extra,
    }


def error_body(message: str) -> dict[str, str]:
    return {"message": message}


_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def verify_sigv4(
    request: RecordedRequest,
    *,
    origin: str,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    token: str | None = None,
    region: str = REGION,
    service: str = "bedrock",
) -> dict[str, str]:
    """Recompute the SigV4 signature of a request as it arrived (`origin` is scheme://host:port).

    Returns the parsed Authorization fields; raises AssertionError when anything does not match.
    """
    authorization = request.header("authorization") or ""
    match = _AUTHORIZATION.fullmatch(authorization)
    assert match, f"not a SigV4 Authorization header: {authorization!r}"
    fields = match.groupdict()
    assert (fields["key"], fields["region"], fields["service"]) == (access_key, region, service)
    amz_date = request.header("x-amz-date") or ""
    assert re.fullmatch(r"\d{8}T\d{6}Z", amz_date) and amz_date.startswith(fields["date"]), amz_date
    assert request.header("x-amz-security-token") == token
    names = fields["signed"].split(";")
    assert names == sorted(names) and {"host", "x-amz-date"} <= set(names), names
    headers = {name: request.header(name) for name in names}
    assert all(value is not None for value in headers.values()), headers
    url = origin + request.path + (f"?{request.query}" if request.query else "")
    replay = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    replay.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key, token), service, region)
    canonical = signer.canonical_request(replay)
    expected = signer.signature(signer.string_to_sign(replay, canonical), replay)
    assert hmac.compare_digest(expected, fields["signature"]), "SigV4 signature mismatch"
    return fields


def botocore_events(raw: bytes) -> list[dict[str, Any]]:
    """An event-stream body decoded by botocore's own parser (headers, JSON payload): a check of framing
    that shares no code with ModelMux's decoder."""
    from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]

    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [
        {
            "headers": dict(message.headers),
            "payload": orjson.loads(message.payload) if message.payload else {},
        }
        for message in buffer
    ]


def shape_errors(value: Any, shape: Any, path: str = "$") -> list[str]:
    """Where `value` strays from a botocore service-model shape (unknown members, wrong kinds).

    Bedrock's `p` padding field is allowed anywhere, as Bedrock adds it to every event.
    """
    kind = shape.type_name
    if getattr(shape, "is_document_type", False):
        return []  # free-form JSON (tool input, schemas)
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object for {shape.name}"]
        errors = []
        for key, item in value.items():
            if key == "p":
                continue
            if key not in shape.members:
                errors.append(f"{path}.{key}: not a member of {shape.name}")
            else:
                errors += shape_errors(item, shape.members[key], f"{path}.{key}")
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        member = shape.member
        return [error for i, item in enumerate(value) for error in shape_errors(item, member, f"{path}[{i}]")]
    expected = {"string": str, "integer": int, "long": int, "boolean": bool, "blob": str}.get(kind)
    if expected is not None and not isinstance(value, expected):
        return [f"{path}: expected {kind}"]
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{path}: {value!r} is not one of {shape.enum}"]
    return []


def service_model() -> Any:
    import botocore.session  # type: ignore[import-untyped]

    return botocore.session.get_session().get_service_model("bedrock-runtime")
