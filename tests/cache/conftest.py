"""Fixtures of the cache tests: a real redis-server, in-process gateways and fake upstreams."""

from tests.e2e.conftest import gateway_for, start_gateway, upstream
from tests.stores.redis_server import redis_server, redis_url

__all__ = ["gateway_for", "redis_server", "redis_url", "start_gateway", "upstream"]
