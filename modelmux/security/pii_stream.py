"""Redaction of an OpenAI SSE stream as it passes: each choice's text, and each of its tool calls'
argument text, is held back just enough to catch an entity split across chunks, and every event stays
valid SSE carrying valid chunk JSON.

Of each pending text, everything but the last `HOLD` characters is released, moved back to the start
of a word (or of an entity) that straddles the cut. The rest is released, redacted, with the choice's
`finish_reason` chunk, or in a chunk of its own before `[DONE]`, an error event or the end. Argument
text is JSON: a redaction marker (`[EMAIL_1]`) inside one of its strings keeps it valid JSON.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Container, Iterator
from typing import Any

import orjson

from modelmux.security.pii import Finding, detect
from modelmux.security.redaction import Redactor

log = logging.getLogger("modelmux.pii")

HOLD = 64  # longer than any entity with spaces in it (an IBAN with spaces is at most 42 characters)
MAX_WORD = 512  # a run of non-space characters longer than this is released without waiting for its end
DATA = b"data: "
CONTENT = -1  # the pending-text key of a choice's content; tool calls use their own index

PendingKey = tuple[int, int]  # (choice index, CONTENT or tool call index)


class StreamRedactor:
    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.pending: dict[PendingKey, str] = {}
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
        if not isinstance(delta, dict):
            delta = {}
        finished = choice.get("finish_reason") is not None
        text = delta.get("content")
        if isinstance(text, str):
            self._add((index, CONTENT), text)
        released = self._release((index, CONTENT))
        if finished:
            released += self.redactor(self.pending.pop((index, CONTENT), ""))
        if isinstance(text, str) or released:
            delta["content"] = released
            choice["delta"] = delta
        calls = delta.get("tool_calls")
        seen: set[int] = set()
        for call in calls if isinstance(calls, list) else []:
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            if isinstance(function, dict) and isinstance(arguments, str):
                key = (index, call.get("index", 0))
                seen.add(key[1])
                self._add(key, arguments)
                function["arguments"] = self._release(key) + (self._redact_rest(key) if finished else "")
        if finished:
            rest = self._held_calls(index, exclude=seen)
            if rest:
                delta["tool_calls"] = [*(calls if isinstance(calls, list) else []), *rest]
                choice["delta"] = delta

    def _add(self, key: PendingKey, text: str) -> None:
        self.pending[key] = self.pending.get(key, "") + text

    def _redact_rest(self, key: PendingKey) -> str:
        return self.redactor(self.pending.pop(key, ""))

    def _held_calls(self, index: int, *, exclude: Container[int] = ()) -> list[dict[str, Any]]:
        """Argument deltas carrying what is still held of choice `index`'s tool calls, redacted."""
        calls = sorted(key[1] for key in self.pending if key[0] == index and key[1] != CONTENT)
        held = [(call, self._redact_rest((index, call))) for call in calls if call not in exclude]
        return [{"index": call, "function": {"arguments": text}} for call, text in held if text]

    def _release(self, key: PendingKey) -> str:
        text = self.pending.get(key, "")
        cut = len(text) - HOLD
        if cut <= 0:
            return ""
        findings = detect(text, self.redactor.kinds)
        cut = safe_cut(text, cut, findings)
        self.pending[key] = text[cut:]
        return self.redactor.apply(text[:cut], [f for f in findings if f.end <= cut])

    def _flush(self) -> Iterator[bytes]:
        """The held-back text and arguments of every choice, redacted, in one chunk (nothing when none)."""
        indexes = sorted({key[0] for key, text in self.pending.items() if text})
        if not indexes or self.template is None:
            self.pending.clear()
            return
        choices = []
        for index in indexes:
            delta: dict[str, Any] = {}
            content = self._redact_rest((index, CONTENT))
            if content:
                delta["content"] = content
            calls = self._held_calls(index)
            if calls:
                delta["tool_calls"] = calls
            choices.append({"index": index, "delta": delta, "finish_reason": None})
        self.pending.clear()
        chunk = dict(self.template)
        if "usage" in chunk:
            chunk["usage"] = None
        chunk["choices"] = choices
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
