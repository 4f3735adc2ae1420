"""The `redis:` section: the Redis every replica shares, compiled into a `RedisPlan`.

`caching.backend: redis` without its own `url` uses `redis.url` (then `redis://127.0.0.1:6379/0`).
The url is a `Secret`: it may carry a password, so the plan shows its `${VAR}` template or the url
with its credentials replaced by `***`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from modelmux.compiler.context import CompileContext
from modelmux.config.loader import PathKey
from modelmux.config.models import Config
from modelmux.plan.models import CachingPlan, RedisPlan, Secret

SCHEMES = ("redis://", "rediss://", "unix://")


def compile_redis(config: Config, ctx: CompileContext, templates: Mapping[PathKey, str]) -> RedisPlan | None:
    section = config.redis
    if section is None:
        return None
    url = section.url
    if not url.startswith(SCHEMES):
        ctx.bag.error(
            "`redis.url` must start with redis://, rediss:// (TLS) or unix://",
            ctx.span(("redis", "url")),
            hint="for example url: redis://127.0.0.1:6379/0 or url: ${REDIS_URL}",
            code="redis-url",
        )
    if section.tls and url.startswith("unix://"):
        ctx.bag.error("`redis.tls` does not apply to a unix:// socket", ctx.span(("redis", "tls")), code="redis-url")
    return RedisPlan(
        url=redis_secret(url, templates.get(("redis", "url"))),
        pool_size=section.pool_size,
        connect_timeout=section.connect_timeout,
        timeout=section.timeout,
        tls=section.tls or url.startswith("rediss://"),
        key_prefix=section.key_prefix,
        sync_interval=section.sync_interval,
    )


def with_cache_url(caching: CachingPlan | None, config: Config, redis: RedisPlan | None) -> CachingPlan | None:
    """A redis cache with no `url` of its own uses the shared `redis.url`."""
    if caching is None or redis is None or caching.backend != "redis":
        return caching
    if config.caching is not None and config.caching.url is not None:
        return caching
    return dataclasses.replace(caching, url=redis.url)


def redis_secret(url: str, template: str | None) -> Secret:
    return Secret(template or without_credentials(url), url)


def without_credentials(url: str) -> str:
    """`redis://user:pass@host:6379/0` shown as `redis://***@host:6379/0`."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
