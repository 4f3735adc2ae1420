"""A fake Google OAuth2 token endpoint: service-account keys, JWT-bearer requests and token responses.

A service account exchanges a signed JWT for an access token by POSTing the form
`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>` to its `token_uri`, and gets
`{"access_token": ..., "expires_in": 3600, "token_type": "Bearer"}` back. Point `token_uri` at a
`FakeServer` route and script `Reply.json(token_response())` there.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/token"
CLIENT_EMAIL = "modelmux-test@modelmux-test.iam.gserviceaccount.com"


def token_response(access_token: str = "ya29.fake-access-token", expires_in: int = 3600) -> dict[str, Any]:
    return {"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer"}


def token_error(error: str = "invalid_grant", description: str = "Invalid JWT Signature.") -> dict[str, Any]:
    """The body of a 400 from the token endpoint."""
    return {"error": error, "error_description": description}


@functools.cache
def private_key_pem() -> str:
    """An RSA key for fake service accounts, made once per test session."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account_info(token_uri: str, project_id: str = "modelmux-test") -> dict[str, Any]:
    """A service-account key file's contents whose token endpoint is `token_uri`."""
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_key_pem(),
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/modelmux-test",
        "universe_domain": "googleapis.com",
    }


def write_service_account(path: Path, token_uri: str, project_id: str = "modelmux-test") -> Path:
    path.write_text(json.dumps(service_account_info(token_uri, project_id)), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A JWT-bearer token request as the endpoint received it (the signature is not checked)."""

    grant_type: str
    header: dict[str, Any]
    claims: dict[str, Any]


def _segment(text: str) -> dict[str, Any]:
    decoded = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    if not isinstance(decoded, dict):
        raise ValueError("a JWT segment must be a JSON object")
    return decoded


def parse_token_request(body: bytes) -> TokenRequest:
    """The grant type and the JWT's header and claims (`iss`, `scope`, `aud`, `iat`, `exp`)."""
    form = dict(parse_qsl(body.decode()))
    header, claims, _signature = form["assertion"].split(".")
    return TokenRequest(form["grant_type"], _segment(header), _segment(claims))
