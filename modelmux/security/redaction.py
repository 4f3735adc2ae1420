"""Typed placeholders for what `pii.detect` finds, consistent within one request, and the walk over the
text of request and response bodies (message content and content parts, tool call arguments, embeddings
input, a top-level `system`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from modelmux.security.pii import Finding, detect

Rewrite = Callable[[str], str]


class Redactor:
    """One request's redactions: the same value gets the same placeholder (`[EMAIL_1]`) in the request,
    the response and the audit log. `found` counts occurrences by kind (never values)."""

    def __init__(self, kinds: frozenset[str], *, rewrite: bool = True) -> None:
        self.kinds = kinds
        self.rewrite = rewrite
        self.found: Counter[str] = Counter()
        self._assigned: dict[tuple[str, str], str] = {}
        self._numbers: Counter[str] = Counter()

    def placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        found = self._assigned.get(key)
        if found is None:
            self._numbers[kind] += 1
            found = self._assigned[key] = f"[{kind.upper()}_{self._numbers[kind]}]"
        return found

    def apply(self, text: str, findings: list[Finding]) -> str:
        """`text` with `findings` (sorted, not overlapping) replaced; counted in `found`."""
        if not findings:
            return text
        self.found.update(f.kind for f in findings)
        if not self.rewrite:
            return text
        out: list[str] = []
        position = 0
        for finding in findings:
            out.append(text[position : finding.start])
            out.append(self.placeholder(finding.kind, text[finding.start : finding.end]))
            position = finding.end
        out.append(text[position:])
        return "".join(out)

    def __call__(self, text: str) -> str:
        return self.apply(text, detect(text, self.kinds))

    def summary(self) -> str:
        return ", ".join(f"{kind}={count}" for kind, count in sorted(self.found.items()))


def rewrite_request(body: dict[str, Any], rewrite: Rewrite) -> dict[str, Any]:
    """A copy of `body` with `rewrite` applied to every text a model reads; untouched parts are shared."""
    out = dict(body)
    messages = body.get("messages")
    if isinstance(messages, list):
        out["messages"] = [_message(m, rewrite) for m in messages]
    if "system" in body:
        out["system"] = _content(body["system"], rewrite)
    value = body.get("input")
    if isinstance(value, str):
        out["input"] = rewrite(value)
    elif isinstance(value, list):
        out["input"] = [rewrite(v) if isinstance(v, str) else v for v in value]
    return out


def rewrite_completion(document: dict[str, Any], rewrite: Rewrite) -> dict[str, Any]:
    """A `chat.completion` with `rewrite` applied to every choice's message (or an Anthropic message's
    content blocks)."""
    if isinstance(document.get("content"), list):
        return {**document, "content": _content(document["content"], rewrite)}
    choices = document.get("choices")
    if not isinstance(choices, list):
        return document
    out = dict(document)
    out["choices"] = [
        {**c, "message": _message(c["message"], rewrite)} if isinstance(c, dict) and "message" in c else c
        for c in choices
    ]
    return out


def _message(message: Any, rewrite: Rewrite) -> Any:
    if not isinstance(message, dict):
        return message
    out = dict(message)
    if "content" in message:
        out["content"] = _content(message["content"], rewrite)
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        out["tool_calls"] = [_tool_call(call, rewrite) for call in calls]
    return out


def _content(content: Any, rewrite: Rewrite) -> Any:
    if isinstance(content, str):
        return rewrite(content)
    if isinstance(content, list):
        return [
            {**part, "text": rewrite(part["text"])}
            if isinstance(part, dict) and isinstance(part.get("text"), str)
            else part
            for part in content
        ]
    return content


def _tool_call(call: Any, rewrite: Rewrite) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return call
    return {**call, "function": {**function, "arguments": rewrite(function["arguments"])}}
