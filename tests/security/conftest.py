"""Fixtures for the security tests: the e2e gateway fixtures, signing keys, a token maker, and a config
with API keys and roles in front of a fake OpenAI upstream on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from modelmux.security.keys import sha256_hex
from tests.e2e.conftest import gateway_for, start_gateway, upstream  # noqa: F401  (fixtures)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

ALICE_KEY = "mm-alice-0123456789abcdefghijklmnopqrstuvwxyz"
BOB_KEY = "mm-bob-0123456789abcdefghijklmnopqrstuvwxyzAB"
OPS_KEY = "mm-ops-0123456789abcdefghijklmnopqrstuvwxyzAB"
KEYS_ENV = {"ALICE_KEY": ALICE_KEY, "BOB_KEY": BOB_KEY}
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "Say hello."}]

PROVIDERS = """
version: 1
providers:
  - name: up
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models: ["gpt-4o", "gpt-4o-mini", "o1", "text-embedding-3-small"]
"""

AUTH = f"""
auth:
  api_keys:
    - name: alice
      key: ${{ALICE_KEY}}
      role: member
      user: alice
      org: acme
      team: research
    - name: bob
      key: ${{BOB_KEY}}
      role: member
      user: bob
      org: acme
      models: ["gpt-4o-mini"]
    - name: ops
      key_sha256: {sha256_hex(OPS_KEY)}
      role: admin
      user: ops
  roles:
    member:
      models: ["gpt-4o*", "text-embedding-*"]
    admin:
      models: ["*"]
      admin: true
"""


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(client: httpx.Client, key: str | None = ALICE_KEY, **body: Any) -> httpx.Response:
    payload = {"model": "gpt-4o", "messages": HI, **body}
    return client.post(CHAT, json=payload, headers=bearer(key) if key else {})


def script_completion(server: FakeServer, content: str = "Hello!", times: int = 1) -> None:
    server.script("POST", CHAT, *[Reply.json(oa.chat_completion(content)) for _ in range(times)])


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: Any
    public_pem: str
    jwk: dict[str, Any]


def _signing_key(kid: str, algorithm: str, private: Any, converter: Any) -> SigningKey:
    public = private.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    jwk = {**converter.to_jwk(public, as_dict=True), "kid": kid, "use": "sig", "alg": algorithm}
    return SigningKey(kid, algorithm, private, pem, jwk)


def rsa_key(kid: str) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _signing_key(kid, "RS256", private, RSAAlgorithm)


@pytest.fixture(scope="session")
def rsa_signer() -> SigningKey:
    return rsa_key("rsa-1")


@pytest.fixture(scope="session")
def rsa_signer_2() -> SigningKey:
    return rsa_key("rsa-2")


@pytest.fixture(scope="session")
def ec_signer() -> SigningKey:
    return _signing_key("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()), ECAlgorithm)


@pytest.fixture(scope="session")
def ed_signer() -> SigningKey:
    return _signing_key("ed-1", "EdDSA", ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm)


ISSUER = "https://issuer.test"
AUDIENCE = "modelmux"
TokenMaker = Callable[..., str]


def make_token(signer: SigningKey, *, kid: str | None = "same", lifetime: float = 300.0, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + int(lifetime), **claims}
    headers = {"kid": signer.kid if kid == "same" else kid} if kid is not None else {}
    return jwt.encode(payload, signer.private, algorithm=signer.algorithm, headers=headers)


def jwks(*signers: SigningKey) -> dict[str, Any]:
    return {"keys": [signer.jwk for signer in signers]}
