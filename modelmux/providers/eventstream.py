"""AWS event-stream framing (`application/vnd.amazon.eventstream`): an incremental decoder.

Bedrock's ConverseStream answers with binary messages, each framed as::

    prelude   total length (u32), headers length (u32), CRC32 of those 8 bytes (u32)
    headers   repeated: name length (u8), name (UTF-8), value type (u8), value
    payload   total length - headers length - 16 bytes
    trailer   CRC32 of every byte of the message before it (u32)

All integers are big-endian. Header values are typed: 0 true, 1 false, 2 int8, 3 int16, 4 int32,
5 int64, 6 bytes (u16 length), 7 UTF-8 string (u16 length), 8 timestamp (int64 milliseconds since the
epoch), 9 UUID (16 bytes).

`EventStreamDecoder.feed` takes bytes exactly as they arrive (a read may end anywhere, even inside the
prelude) and returns the messages completed so far. Both CRCs are verified; the prelude's as soon as
its 12 bytes are in, so a body that is not an event stream at all fails at once instead of waiting for
a length it made up. Any framing fault raises `EventStreamError` and the decoder stays failed; when
good messages came before the fault in the same read, they are returned first and the next call raises.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

HeaderValue = bool | int | bytes | str

PRELUDE_SIZE = 12
TRAILER_SIZE = 4
MIN_MESSAGE_SIZE = PRELUDE_SIZE + TRAILER_SIZE
# The service limits are 16 MiB of payload and 128 KiB of headers per message.
MAX_PAYLOAD_SIZE = 16 * 1024 * 1024
MAX_HEADERS_SIZE = 128 * 1024
MAX_MESSAGE_SIZE = MAX_PAYLOAD_SIZE + MAX_HEADERS_SIZE + MIN_MESSAGE_SIZE

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")
_FIXED = {2: struct.Struct(">b"), 3: struct.Struct(">h"), 4: struct.Struct(">i"), 5: struct.Struct(">q")}
_TIMESTAMP = struct.Struct(">q")
_LENGTH = struct.Struct(">H")


class EventStreamError(ValueError):
    """The bytes are not a valid event stream: a bad CRC, an impossible length, a malformed header."""


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One decoded message: its headers (names as sent) and its raw payload."""

    headers: Mapping[str, HeaderValue]
    payload: bytes

    def text_header(self, name: str) -> str | None:
        """A string-typed header's value; None when it is absent or of another type."""
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


def crc32(data: bytes | bytearray | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def parse_headers(data: bytes) -> dict[str, HeaderValue]:
    """The headers section of a message; a duplicate name or a truncated value is an error."""
    headers: dict[str, HeaderValue] = {}
    position = 0
    while position < len(data):
        size = data[position]
        name_bytes = data[position + 1 : position + 1 + size]
        position += 1 + size
        if size == 0 or len(name_bytes) != size or position >= len(data):
            raise EventStreamError("truncated event-stream header name")
        name = _utf8(name_bytes, "header name")
        if name in headers:
            raise EventStreamError(f"duplicate event-stream header {name!r}")
        headers[name], position = _header_value(data, data[position], position + 1)
    return headers


def _header_value(data: bytes, kind: int, position: int) -> tuple[HeaderValue, int]:
    try:
        if kind in (0, 1):
            return kind == 0, position
        if kind in _FIXED:
            fixed = _FIXED[kind]
            return int(fixed.unpack_from(data, position)[0]), position + fixed.size
        if kind in (6, 7):
            (length,) = _LENGTH.unpack_from(data, position)
            start = position + _LENGTH.size
            raw = data[start : start + length]
            if len(raw) != length:
                raise EventStreamError("truncated event-stream header value")
            return (raw if kind == 6 else _utf8(raw, "header value")), start + length
        if kind == 8:
            return int(_TIMESTAMP.unpack_from(data, position)[0]), position + _TIMESTAMP.size
        if kind == 9:
            raw = data[position : position + 16]
            if len(raw) != 16:
                raise EventStreamError("truncated event-stream UUID header")
            return raw, position + 16
    except struct.error as exc:
        raise EventStreamError("truncated event-stream header value") from exc
    raise EventStreamError(f"unknown event-stream header value type {kind}")


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventStreamError(f"event-stream {what} is not UTF-8") from exc


class EventStreamDecoder:
    """Incremental event-stream decoder: bytes in, complete and verified messages out."""

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_message_size
        self._prelude_checked = False
        self._failure: EventStreamError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[EventMessage]:
        if self._failure is not None:
            raise self._failure
        self._buffer += data
        messages: list[EventMessage] = []
        try:
            while (message := self._next()) is not None:
                messages.append(message)
        except EventStreamError as exc:
            self._failure = exc
            if not messages:
                raise
        return messages

    def finish(self) -> None:
        """At the end of the body: bytes left over are a message cut short."""
        if self._failure is not None:
            raise self._failure
        if self._buffer:
            self._failure = EventStreamError(
                f"the event stream ended inside a message ({len(self._buffer)} bytes left over)"
            )
            raise self._failure

    def _next(self) -> EventMessage | None:
        buffer = self._buffer
        if len(buffer) < PRELUDE_SIZE:
            return None
        total, headers_size, prelude_crc = _PRELUDE.unpack_from(buffer)
        if not self._prelude_checked:
            if crc32(memoryview(buffer)[:8]) != prelude_crc:
                raise EventStreamError("event-stream prelude CRC mismatch")
            if not MIN_MESSAGE_SIZE <= total <= self._max:
                raise EventStreamError(f"event-stream message length {total} is out of range")
            if headers_size > min(MAX_HEADERS_SIZE, total - MIN_MESSAGE_SIZE):
                raise EventStreamError(f"event-stream headers length {headers_size} is out of range")
            self._prelude_checked = True
        if len(buffer) < total:
            return None
        with memoryview(buffer) as view:
            (expected,) = _U32.unpack_from(view, total - TRAILER_SIZE)
            if crc32(view[: total - TRAILER_SIZE]) != expected:
                raise EventStreamError("event-stream message CRC mismatch")
            headers = parse_headers(bytes(view[PRELUDE_SIZE : PRELUDE_SIZE + headers_size]))
            payload = bytes(view[PRELUDE_SIZE + headers_size : total - TRAILER_SIZE])
        del buffer[:total]
        self._prelude_checked = False
        return EventMessage(headers, payload)
