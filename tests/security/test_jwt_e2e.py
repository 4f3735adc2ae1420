"""JWT bearer tokens against a running gateway, with keys from a fake JWKS server on 127.0.0.1 or a
static PEM key: valid tokens map their claims to the identity; expired, premature, forged, `alg: none`
and HS256-signed-with-the-public-key tokens are refused; an unknown `kid` refetches the JWKS once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import orjson
import pytest

from tests.e2e.conftest import Gateway, GatewayFor, assert_error_response, received
from tests.fakes import FakeServer, Reply
from tests.security.conftest import (
    AUDIENCE,
    CHAT,
    ISSUER,
    PROVIDERS,
    SigningKey,
    bearer,
    chat,
    jwks,
    make_token,
    rsa_key,
    script_completion,
)

JWT_AUTH = """
auth:
  jwt:
    jwks_url: ${JWKS_URL}
    issuer: https://issuer.test
    audience: modelmux
    leeway: 5s
    claims: {user: sub, org: org_id, team: "https://claims.test/team", roles: realm.roles}
  roles:
    member: {models: ["gpt-4o*"]}
    admin: {models: ["*"], admin: true}
"""
ROUTE_BY_ORG = """
routing:
  rules:
    - if: org == "acme" and team == "ml" and user == "user-1" and role == "member"
      provider: up
      model: gpt-4o-mini
"""
JWKS_PATH = "/jwks.json"


@pytest.fixture
def jwks_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def serve(gateway_for: GatewayFor, upstream: FakeServer, keys: FakeServer, extra: str = "") -> Gateway:
    return gateway_for(upstream, PROVIDERS + JWT_AUTH + extra, {"JWKS_URL": keys.url + JWKS_PATH})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, object], claims: dict[str, object], key: bytes | None = None) -> str:
    signing_input = f"{b64(orjson.dumps(header))}.{b64(orjson.dumps(claims))}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def good_claims() -> dict[str, object]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "exp": now + 300, "realm": {"roles": ["member"]}}


def test_a_valid_token_maps_its_claims_to_the_identity(
    gateway_for: GatewayFor, upstream: FakeServer, jwks_server: FakeServer, rsa_signer: SigningKey
) -> None:
    jwks_server.script("GET", JWKS_PATH, Reply.json(jwks(rsa_signer)))
    script_completion(upstream)
    gateway = serve(gateway_for, upstream, jwks_server, ROUTE_BY_ORG)
    claims = {"org_id": "acme", "https://claims.test/team": "ml", "realm": {"roles": ["member"]}}
    response = chat(gateway.http(), key=make_token(rsa_signer, **claims))
    assert response.status_code == 200, response.text
    assert received(upstream, CHAT).json()["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("claims", "lifetime", "reason"),
    [
        ({}, -60.0, "expired"),
        ({"nbf": int(time.time()) + 600}, 900.0, "not valid yet"),
        ({"iss": "https://evil.test"}, 300.0, "issuer"),
        ({"aud": "someone-else"}, 300.0, "audience"),
    ],
)
def test_tokens_failing_the_claim_checks_are_refused(
    gateway_for: GatewayFor,
    upstream: FakeServer,
    jwks_server: FakeServer,
    rsa_signer: SigningKey,
    claims: dict[str, object],
    lifetime: float,
    reason: str,
) -> None:
    jwks_server.script("GET", JWKS_PATH, Reply.json(jwks(rsa_signer)))
    gateway = serve(gateway_for, upstream, jwks_server)
    token = make_token(rsa_signer, lifetime=lifetime, **claims)
    error = assert_error_response(chat(gateway.http(), key=token), 401, code="invalid_api_key")
    assert reason in error["message"]
    assert token not in error["message"]
    assert not upstream.requests


def test_forged_and_algorithm_confusion_tokens_are_refused(
    gateway_for: GatewayFor, upstream: FakeServer, jwks_server: FakeServer, rsa_signer: SigningKey
) -> None:
    jwks_server.script("GET", JWKS_PATH, Reply.json(jwks(rsa_signer)))
    gateway = serve(gateway_for, upstream, jwks_server)
    client = gateway.http()
    impostor = rsa_key(rsa_signer.kid)  # same kid, another private key
    forged = make_token(impostor)
    none = unsigned_token({"alg": "none", "typ": "JWT", "kid": rsa_signer.kid}, good_claims())
    hs256 = unsigned_token(
        {"alg": "HS256", "typ": "JWT", "kid": rsa_signer.kid}, good_claims(), key=rsa_signer.public_pem.encode()
    )
    for token in (forged, none, hs256):
        assert_error_response(chat(client, key=token), 401, code="invalid_api_key")
    assert not upstream.requests


def test_the_role_claim_decides_models_and_admin(
    gateway_for: GatewayFor, upstream: FakeServer, jwks_server: FakeServer, rsa_signer: SigningKey
) -> None:
    jwks_server.script("GET", JWKS_PATH, Reply.json(jwks(rsa_signer)))
    gateway = serve(gateway_for, upstream, jwks_server)
    client = gateway.http()
    member = make_token(rsa_signer, realm={"roles": ["member"]})
    admin = make_token(rsa_signer, realm={"roles": ["admin"]})
    assert_error_response(chat(client, key=member, model="o1"), 403, code="model_not_allowed")
    assert client.get("/admin/plan", headers=bearer(member)).status_code == 403
    assert client.get("/admin/plan", headers=bearer(admin)).status_code == 200


def test_an_unknown_kid_refetches_the_jwks_once(
    gateway_for: GatewayFor,
    upstream: FakeServer,
    jwks_server: FakeServer,
    rsa_signer: SigningKey,
    rsa_signer_2: SigningKey,
) -> None:
    jwks_server.script("GET", JWKS_PATH, Reply.json(jwks(rsa_signer)), Reply.json(jwks(rsa_signer, rsa_signer_2)))
    script_completion(upstream, times=3)
    gateway = serve(gateway_for, upstream, jwks_server)
    client = gateway.http()
    assert chat(client, key=make_token(rsa_signer)).status_code == 200
    assert len(jwks_server.requests_to(JWKS_PATH)) == 1
    assert chat(client, key=make_token(rsa_signer_2)).status_code == 200  # rotated in: one refetch
    assert len(jwks_server.requests_to(JWKS_PATH)) == 2
    stranger = rsa_key("rsa-unknown")
    assert_error_response(chat(client, key=make_token(stranger)), 401, code="invalid_api_key")
    assert_error_response(chat(client, key=make_token(stranger)), 401, code="invalid_api_key")
    assert len(jwks_server.requests_to(JWKS_PATH)) == 2  # at most one refetch per 30s
    assert chat(client, key=make_token(rsa_signer)).status_code == 200


def test_an_unreachable_jwks_with_no_known_key_answers_503(
    gateway_for: GatewayFor, upstream: FakeServer, jwks_server: FakeServer, rsa_signer: SigningKey
) -> None:
    jwks_server.script("GET", JWKS_PATH, Reply.json({"error": "down"}, status=500))
    gateway = serve(gateway_for, upstream, jwks_server)
    response = chat(gateway.http(), key=make_token(rsa_signer))
    assert_error_response(response, 503, code="jwks_unavailable")
    assert response.headers["retry-after"]


@pytest.mark.parametrize("signer_name", ["ec_signer", "ed_signer", "rsa_signer"])
def test_a_static_public_key_verifies_its_algorithm(
    gateway_for: GatewayFor, upstream: FakeServer, signer_name: str, request: pytest.FixtureRequest
) -> None:
    signer: SigningKey = request.getfixturevalue(signer_name)
    config = PROVIDERS + JWT_AUTH.replace("jwks_url: ${JWKS_URL}", "public_key: ${PUBLIC_KEY}")
    script_completion(upstream)
    gateway = gateway_for(upstream, config, {"PUBLIC_KEY": signer.public_pem})
    client = gateway.http()
    assert chat(client, key=make_token(signer, kid=None)).status_code == 200
    other = rsa_key("other")
    assert_error_response(chat(client, key=make_token(other, kid=None)), 401, code="invalid_api_key")
