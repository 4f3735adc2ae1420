"""Incremental Server-Sent Events decoding and encoding.

`SSEDecoder.feed` accepts bytes exactly as they arrive from the network: a read may end inside an
event, inside a line ending, or inside a multi-byte UTF-8 character. Events are returned only when
complete (a blank line ends an event), following the WHATWG event-stream rules.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._pending_cr = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        return self._consume(self._text.decode(data))

    def finish(self) -> list[SSEEvent]:
        """Flush at end of stream: a final event without its blank line still counts."""
        events = self._consume(self._text.decode(b"", final=True))
        if self._buffer:
            self._line(self._buffer, events)
            self._buffer = ""
        self._dispatch(events)
        return events

    def _consume(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        buffer = self._buffer + text
        start = 0
        length = len(buffer)
        while True:
            newline = buffer.find("\n", start)
            carriage = buffer.find("\r", start)
            if newline < 0 and carriage < 0:
                break
            if carriage >= 0 and (newline < 0 or carriage < newline):
                end = carriage
                if end + 1 < length:
                    step = 2 if buffer[end + 1] == "\n" else 1
                else:
                    step = 1
                    self._pending_cr = True
            else:
                end, step = newline, 1
            self._line(buffer[start:end], events)
            start = end + step
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent(self._event or "message", "\n".join(self._data), self._id))
        self._event = ""
        self._data = []


def encode_event(data: bytes | str, event: str | None = None) -> bytes:
    """One SSE event as bytes (`data:` lines, optional `event:` line, blank line)."""
    text = data.decode() if isinstance(data, bytes) else data
    head = f"event: {event}\n" if event else ""
    body = "".join(f"data: {line}\n" for line in text.split("\n"))
    return (head + body + "\n").encode()
