"""The JWKS cache on its own, with an httpx MockTransport and a fake clock: one fetch shared by
concurrent requests, unknown kids refetched at most once per interval, failures keeping known keys,
503 only when no key is known, and malformed documents never raising."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelmux.errors import RequestError
from modelmux.security.jwks import MAX_KEYS, JwksKeys, parse_jwks
from tests.security.conftest import SigningKey, jwks


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    """Answers with the documents in order (the last one repeats); a status instead of a document fails."""

    def __init__(self, *answers: dict[str, Any] | int) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        await asyncio.sleep(0)
        if isinstance(answer, int):
            return httpx.Response(answer)
        return httpx.Response(200, json=answer)


def cache(upstream: Upstream, clock: Clock) -> JwksKeys:
    return JwksKeys("https://issuer.test/jwks", clock=clock, transport=httpx.MockTransport(upstream.handle))


async def test_concurrent_requests_share_one_fetch(rsa_signer: SigningKey) -> None:
    upstream = Upstream(jwks(rsa_signer))
    keys = cache(upstream, Clock())
    found = await asyncio.gather(*(keys.key_for(rsa_signer.kid) for _ in range(10)))
    assert all(key is not None for key in found)
    assert upstream.calls == 1


async def test_unknown_kids_refetch_at_most_once_per_interval(rsa_signer: SigningKey, rsa_signer_2: SigningKey) -> None:
    upstream = Upstream(jwks(rsa_signer), jwks(rsa_signer, rsa_signer_2))
    clock = Clock()
    keys = cache(upstream, clock)
    assert await keys.key_for(rsa_signer.kid) is not None
    assert await keys.key_for("nobody") is None  # unknown: one refetch, which brings rsa-2 in
    assert upstream.calls == 2
    assert await keys.key_for(rsa_signer_2.kid) is not None
    assert await keys.key_for("nobody-else") is None  # within the interval: no refetch
    assert upstream.calls == 2
    clock.now += 31
    assert await keys.key_for("nobody-else") is None
    assert upstream.calls == 3


async def test_a_failed_refresh_keeps_the_keys_it_had(rsa_signer: SigningKey) -> None:
    upstream = Upstream(jwks(rsa_signer), 500)
    clock = Clock()
    keys = cache(upstream, clock)
    assert await keys.key_for(rsa_signer.kid) is not None
    clock.now += 4000  # stale: refetched, fails, the old key still serves
    assert await keys.key_for(rsa_signer.kid) is not None
    assert upstream.calls == 2


async def test_no_known_key_answers_503_and_backs_off(rsa_signer: SigningKey) -> None:
    upstream = Upstream(503, jwks(rsa_signer))
    clock = Clock()
    keys = cache(upstream, clock)
    with pytest.raises(RequestError) as refused:
        await keys.key_for(rsa_signer.kid)
    assert refused.value.status == 503 and refused.value.code == "jwks_unavailable"
    with pytest.raises(RequestError):
        await keys.key_for(rsa_signer.kid)
    assert upstream.calls == 1  # backing off
    clock.now += 6
    assert await keys.key_for(rsa_signer.kid) is not None


def test_the_number_of_keys_is_bounded(rsa_signer: SigningKey) -> None:
    document = {"keys": [{**rsa_signer.jwk, "kid": f"k{i}"} for i in range(MAX_KEYS + 20)]}
    assert len(parse_jwks(document)) == MAX_KEYS


def test_symmetric_and_encryption_keys_are_ignored(rsa_signer: SigningKey) -> None:
    document = {
        "keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, {**rsa_signer.jwk, "use": "enc", "kid": "enc"}]
    }
    assert parse_jwks(document) == {}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)
jwk_like = st.fixed_dictionaries(
    {"kty": st.sampled_from(["RSA", "EC", "OKP", "oct", "XYZ"]) | json_values},
    optional={
        "kid": json_values,
        "n": json_values,
        "e": json_values,
        "crv": json_values,
        "x": json_values,
        "alg": json_values,
    },
)


@given(document=st.fixed_dictionaries({"keys": st.lists(jwk_like | json_values, max_size=4)}) | json_values)
@settings(max_examples=200, deadline=None)
def test_malformed_documents_never_raise(document: Any) -> None:
    parse_jwks(document)
