"""Redaction of an OpenAI SSE stream as it passes: each choice's text is held back just enough to catch
an entity split across chunks, and every event stays valid SSE carrying valid chunk JSON.

Of each choice's pending text, everything but the last `HOLD` characters is released, moved back to the
start of a word (or of an entity) that straddles the cut. The rest is released, redacted, with the
choice's `finish_reason` chunk, or in a chunk of its own before `[DONE]`, an error event or the end.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from modelmux.security.pii import Finding, detect
from modelmux.security.redaction import Redactor

log = logging.getLogger("modelmux.pii")

HOLD = 64  # longer than any entity with spaces in it (an IBAN with spaces is at most 42 characters)
MAX_WORD = 512  # a run of non-space characters longer than this is released without waiting for its end
DATA = b"data: "


class StreamRedactor:
    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.pending: dict[int, str] = {}
        self.template: dict[str, Any] | None = None

    async def wrap(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        buffer = b""
        try:
            async for piece in stream:
                buffer += piece
                while (end := buffer.find(b"\n\n")) >= 0:
                    event, buffer = buffer[: end + 2], buffer[end + 2 :]
                    for out in self._event(event):
                        yield out
            for out in self._flush():
                yield out
            if buffer:
                yield buffer
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
            if self.redactor.found:
                log.info("pii in a streamed response: %s", self.redactor.summary())

    def _event(self, event: bytes) -> Iterator[bytes]:
        if not event.startswith(DATA) or event[len(DATA) :].strip() == b"[DONE]":
            yield from self._flush()
            yield event
            return
        try:
            chunk = orjson.loads(event[len(DATA) :])
        except orjson.JSONDecodeError:
            yield event
            return
        if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
            yield event
            return
        self.template = {k: v for k, v in chunk.items() if k != "choices"}
        for choice in chunk["choices"]:
            if isinstance(choice, dict):
                self._choice(choice)
        yield DATA + orjson.dumps(chunk) + b"\n\n"

    def _choice(self, choice: dict[str, Any]) -> None:
        index = choice.get("index", 0)
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(text, str):
            self.pending[index] = self.pending.get(index, "") + text
        released = self._release(index)
        if choice.get("finish_reason") is not None:
            released += self.redactor(self.pending.pop(index, ""))
        if isinstance(delta, dict) and (isinstance(text, str) or released):
            delta["content"] = released

    def _release(self, index: int) -> str:
        text = self.pending.get(index, "")
        cut = len(text) - HOLD
        if cut <= 0:
            return ""
        findings = detect(text, self.redactor.kinds)
        cut = safe_cut(text, cut, findings)
        self.pending[index] = text[cut:]
        return self.redactor.apply(text[:cut], [f for f in findings if f.end <= cut])

    def _flush(self) -> Iterator[bytes]:
        """The held-back text of every choice, redacted, in one chunk (nothing when none is held)."""
        held = {index: text for index, text in self.pending.items() if text}
        self.pending.clear()
        if not held or self.template is None:
            return
        chunk = dict(self.template)
        if "usage" in chunk:
            chunk["usage"] = None
        chunk["choices"] = [
            {"index": index, "delta": {"content": self.redactor(text)}, "finish_reason": None}
            for index, text in sorted(held.items())
        ]
        yield DATA + orjson.dumps(chunk) + b"\n\n"


def safe_cut(text: str, cut: int, findings: list[Finding]) -> int:
    """`cut`, moved back until it splits neither a word (up to MAX_WORD long) nor a finding."""
    while True:
        moved = cut
        for finding in findings:
            if finding.start < moved < finding.end:
                moved = finding.start
        if 0 < moved < len(text) and not text[moved - 1].isspace() and not text[moved].isspace():
            start = moved
            while start > 0 and not text[start - 1].isspace() and moved - start < MAX_WORD:
                start -= 1
            if moved - start < MAX_WORD:
                moved = start
        if moved == cut:
            return cut
        cut = moved
