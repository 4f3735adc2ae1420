"""Cache keys: canonical, tenant-scoped, blind to what cannot change the answer."""

from __future__ import annotations

from typing import Any

from modelmux.cache.keys import cache_key

BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
    "temperature": 0,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}],
    "tool_choice": "auto",
    "response_format": {"type": "text"},
    "max_tokens": 50,
}


def key(body: dict[str, Any], model: str = "gpt-4o", key_name: str | None = "team-a", org: str | None = None) -> str:
    return cache_key(body, model, key_name, org)


def reordered(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


def test_the_same_request_in_another_key_order_has_the_same_key() -> None:
    other = reordered(BODY)
    assert list(other) != list(BODY)
    assert key(other) == key(BODY)


def test_a_key_is_a_sha256_hex_digest() -> None:
    digest = key(BODY)
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_another_tenant_never_shares_a_key() -> None:
    assert key(BODY, key_name="team-b") != key(BODY)
    assert key(BODY, org="acme") != key(BODY, org="globex")
    assert key(BODY, key_name=None) != key(BODY)


def test_stream_user_and_metadata_do_not_change_the_key() -> None:
    variants = [
        {**BODY, "stream": True},
        {**BODY, "stream": True, "stream_options": {"include_usage": True}},
        {**BODY, "user": "someone"},
        {**BODY, "metadata": {"trace": "x"}},
        {**BODY, "store": False},
    ]
    assert {key(body) for body in variants} == {key(BODY)}


def test_semantic_fields_change_the_key() -> None:
    changes: dict[str, Any] = {
        "messages": [{"role": "user", "content": "Say goodbye."}],
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 51,
        "max_completion_tokens": 10,
        "stop": ["\n"],
        "seed": 7,
        "n": 2,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.1,
        "logit_bias": {"50256": -100},
        "tools": [],
        "tool_choice": "none",
        "response_format": {"type": "json_object"},
    }
    keys = {name: key({**BODY, name: value}) for name, value in changes.items()}
    assert key(BODY) not in keys.values()
    assert len(set(keys.values())) == len(changes)


def test_the_routed_model_is_part_of_the_key() -> None:
    assert key(BODY, model="gpt-4o-mini") != key(BODY, model="gpt-4o")
    assert key({**BODY, "model": "alias"}, model="gpt-4o") == key(BODY, model="gpt-4o")


def test_equal_json_values_give_equal_keys() -> None:
    assert key({**BODY, "temperature": 0.0}) == key({**BODY, "temperature": 0})
    assert key({**BODY, "stop": "END"}) == key({**BODY, "stop": ["END"]})
    assert key({**BODY, "seed": None}) == key(BODY)
