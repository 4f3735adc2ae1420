"""Structured logs: the process-wide log setup, and the one access line each request ends with.

`configure_logging(section)` runs once per process (`modelmux serve`, and each `--workers` process):
one stderr handler, JSON lines or text (`observability.logging.format`), the root level from
`observability.logging.level`. Every line's message and exception text pass through `scrub`, so a
credential or an email that some message carries does not reach the log. The access log
(`modelmux.access`, one line per request, `access_log: true`) is on at INFO whatever the root level;
request and response bodies (`modelmux.bodies`, `debug_bodies: true`) at DEBUG.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from modelmux.observability.redaction import scrub

if TYPE_CHECKING:
    from modelmux.observability.summary import RequestSummary

ACCESS = logging.getLogger("modelmux.access")
BODIES = logging.getLogger("modelmux.bodies")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MARK = "_modelmux_handler"


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, then the record's `fields` (access lines)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = scrub(record.message)
        line = super().formatMessage(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line += "".join(f" {key}={_text(value)}" for key, value in fields.items() if value is not None)
        return line

    def formatException(self, ei: Any) -> str:
        return scrub(super().formatException(ei))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, default=str).decode()


def configure_logging(section: Mapping[str, Any] | None = None, *, stream: TextIO | None = None) -> logging.Handler:
    """Install (or replace) ModelMux's log handler on the root logger; returns the handler."""
    settings = section or {}
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.get("format", "json") == "json" else TextFormatter())
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(LEVELS.get(str(settings.get("level", "info")), logging.INFO))
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ACCESS.setLevel(logging.INFO)
    BODIES.setLevel(logging.DEBUG)
    return handler


def logging_section(observability: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`observability.logging` of a plan's sections (defaults when absent)."""
    found = (observability or {}).get("logging")
    return found if isinstance(found, Mapping) else {}


def access_fields(summary: RequestSummary) -> dict[str, Any]:
    s = summary
    return {
        "request_id": s.request_id,
        "endpoint": s.endpoint,
        "model": scrub(s.requested_model[:200]),
        "route": s.route,
        "provider": s.provider if s.provider != "none" else None,
        "upstream_model": s.upstream_model,
        "status": s.status,
        "error_code": s.error_code,
        "stream": s.stream,
        "attempts": len(s.attempts),
        "attempt_log": [f"{a.provider}:{a.status}:{a.kind}" for a in s.attempts],
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cost_usd": round(s.cost_usd, 8) if s.cost_usd is not None else None,
        "latency_ms": round(s.duration * 1000, 2),
        "overhead_ms": round(s.overhead * 1000, 2),
        "ttft_ms": round(s.first_byte * 1000, 2) if s.first_byte is not None else None,
        "cache": s.cache,
        "key": s.key_name,
    }


def log_access(summary: RequestSummary) -> None:
    """The request's access line; builds nothing when `modelmux.access` is off."""
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.info("request", extra={"fields": access_fields(summary)})
