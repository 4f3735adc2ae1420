"""Fixtures of the state-store tests: a real redis-server (see redis_server.py), in-process gateways,
`modelmux serve` subprocesses and fake upstreams."""

from tests.e2e.conftest import gateway_for, serve_cli, start_gateway, upstream
from tests.stores.redis_server import redis_server, redis_url

__all__ = ["gateway_for", "redis_server", "redis_url", "serve_cli", "start_gateway", "upstream"]
