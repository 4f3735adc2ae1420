"""The ASGI application for worker processes (`--workers N`): the config path comes from
MODELMUX_SERVE_CONFIG, set by `modelmux serve` before it starts the workers."""

from __future__ import annotations

import os

from quart import Quart

from modelmux.compiler.compile import compile_file
from modelmux.config.env import current_environment
from modelmux.errors import ConfigError
from modelmux.observability.logging import configure_logging, logging_section
from modelmux.runtime.app import create_app


def build_app() -> Quart:
    source = os.environ.get("MODELMUX_SERVE_CONFIG")
    if not source:
        raise RuntimeError("MODELMUX_SERVE_CONFIG is not set; start workers with `modelmux serve`")
    result = compile_file(source, current_environment())
    if result.plan is None:
        raise ConfigError(result.errors)
    configure_logging(logging_section(result.plan.sections.get("observability")))
    watch = os.environ.get("MODELMUX_WATCH", "1") == "1"
    return create_app(result.plan, source=source, public=result.public, watch=watch)


app = build_app() if os.environ.get("MODELMUX_SERVE_CONFIG") else None
