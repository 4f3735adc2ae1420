"""The `redis:` config section compiles into `Plan.redis`; a redis cache without a url uses it."""

from __future__ import annotations

from pathlib import Path

from modelmux.compiler.compile import CompileResult, compile_file
from modelmux.compiler.redis import without_credentials

PROVIDERS = """
version: 1
providers:
  - name: main
    type: openai
    api_key: sk-test
    models: [gpt-4o]
"""


def compiled(tmp_path: Path, extra: str, env: dict[str, str] | None = None) -> CompileResult:
    path = tmp_path / "modelmux.yaml"
    text = PROVIDERS + extra
    path.write_text(text, encoding="utf-8")
    return compile_file(path, env or {}, text=text)


def test_defaults(tmp_path: Path) -> None:
    result = compiled(tmp_path, "redis: {}\n")
    assert result.plan is not None and result.plan.redis is not None
    redis = result.plan.redis
    assert redis.url.reveal() == "redis://127.0.0.1:6379/0"
    assert (redis.pool_size, redis.connect_timeout, redis.timeout, redis.tls) == (50, 1.0, 0.5, False)
    assert (redis.key_prefix, redis.sync_interval) == ("modelmux:", 0.25)


def test_settings_and_units(tmp_path: Path) -> None:
    extra = """
redis:
  url: rediss://cache.internal:6380/2
  pool_size: 8
  connect_timeout: 2s
  timeout: 150ms
  key_prefix: "prod:"
  sync_interval: 1s
"""
    result = compiled(tmp_path, extra)
    assert result.plan is not None and result.plan.redis is not None
    redis = result.plan.redis
    assert (redis.pool_size, redis.connect_timeout, redis.timeout, redis.tls) == (8, 2.0, 0.15, True)
    assert (redis.key_prefix, redis.sync_interval) == ("prod:", 1.0)


def test_a_plan_without_redis_has_none_and_keeps_its_fingerprint(tmp_path: Path) -> None:
    plain = compiled(tmp_path, "")
    assert plain.plan is not None and plain.plan.redis is None
    assert "redis" not in plain.public
    with_redis = compiled(tmp_path, "redis: {}\n")
    assert with_redis.plan is not None and with_redis.plan.fingerprint != plain.plan.fingerprint


def test_a_bad_url_is_a_diagnostic_at_its_position(tmp_path: Path) -> None:
    result = compiled(tmp_path, "redis:\n  url: http://127.0.0.1:6379\n")
    assert result.plan is None
    (error,) = result.errors
    assert "redis://" in error.message and error.span is not None and error.span.line == 9


def test_unknown_keys_are_reported(tmp_path: Path) -> None:
    result = compiled(tmp_path, "redis:\n  urll: redis://127.0.0.1\n")
    assert result.plan is None and any("urll" in d.render() for d in result.errors)


def test_the_url_is_a_secret_shown_as_its_template_or_without_credentials(tmp_path: Path) -> None:
    secret = "redis://:hunter2-pass@cache.internal:6379/0"
    by_env = compiled(tmp_path, "redis:\n  url: ${REDIS_URL}\n", {"REDIS_URL": secret})
    assert by_env.plan is not None and by_env.plan.redis is not None
    assert by_env.plan.redis.url.reveal() == secret and str(by_env.plan.redis.url) == "${REDIS_URL}"
    assert "hunter2" not in repr(by_env.plan.redis) and by_env.public["redis"]["url"] == "${REDIS_URL}"
    literal = compiled(tmp_path, f"redis:\n  url: {secret}\n")
    assert literal.plan is not None and literal.plan.redis is not None
    assert str(literal.plan.redis.url) == "redis://***@cache.internal:6379/0"
    assert "hunter2" not in str(literal.public)
    assert without_credentials("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_redis_cache_without_a_url_uses_the_shared_one(tmp_path: Path) -> None:
    shared = "redis:\n  url: redis://10.0.0.5:6379/1\n"
    result = compiled(tmp_path, shared + "caching:\n  backend: redis\n")
    assert result.plan is not None and result.plan.caching is not None and result.plan.caching.url is not None
    assert result.plan.caching.url.reveal() == "redis://10.0.0.5:6379/1"
    own = compiled(tmp_path, shared + "caching:\n  backend: redis\n  url: redis://10.0.0.6:6379/0\n")
    assert own.plan is not None and own.plan.caching is not None and own.plan.caching.url is not None
    assert own.plan.caching.url.reveal() == "redis://10.0.0.6:6379/0"
    alone = compiled(tmp_path, "caching:\n  backend: redis\n")
    assert alone.plan is not None and alone.plan.caching is not None and alone.plan.caching.url is not None
    assert alone.plan.caching.url.reveal() == "redis://127.0.0.1:6379/0"
