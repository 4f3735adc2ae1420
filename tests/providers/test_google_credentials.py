"""google-auth token source: a fake OAuth token endpoint and a fake metadata server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth.compute_engine import _metadata

from modelmux.providers.google_credentials import (
    CLOUD_PLATFORM_SCOPE,
    CredentialsError,
    GoogleTokenSource,
    StaticTokenSource,
)

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class FakeServer:
    """A loopback HTTP server whose replies come from `respond(method, path, body)`."""

    respond: Callable[[str, str, bytes], Reply]
    delay: float = 0.0
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                fake.requests.append((self.command, self.path, body))
                time.sleep(fake.delay)
                status, headers, payload = fake.respond(self.command, self.path, body)
                self.send_response(status)
                for name, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeServer]]:
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(respond: Callable[[str, str, bytes], Reply], delay: float = 0.0) -> FakeServer:
        fake = FakeServer(respond, delay)
        server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        servers.append((server, thread))
        fake.url = f"http://127.0.0.1:{server.server_address[1]}"
        return fake

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_file(tmp_path: Path, key: rsa.RSAPrivateKey) -> str:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {
        "type": "service_account",
        "project_id": "acme-prod",
        "private_key_id": "k1",
        "private_key": pem.decode(),
        "client_email": "gateway@acme-prod.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return str(path)


def token_endpoint(counter: list[int], status: int = 200) -> Callable[[str, str, bytes], Reply]:
    def respond(method: str, path: str, body: bytes) -> Reply:
        if status != 200:
            return status, {}, b'{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}'
        counter.append(1)
        token = {"access_token": f"tok-{len(counter)}", "expires_in": 3600, "token_type": "Bearer"}
        return 200, {}, json.dumps(token).encode()

    return respond


def jwt_claims(assertion: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    header, payload, signature = assertion.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    key.public_key().verify(raw, f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


async def test_service_account_token_is_fetched_signed_and_cached(
    serve: Callable[..., FakeServer], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    hits: list[int] = []
    fake = serve(token_endpoint(hits))
    options = {"credentials": service_account_file(tmp_path, private_key), "token_url": f"{fake.url}/token"}
    source = GoogleTokenSource.from_options(options)
    try:
        assert await source.token() == "tok-1"
        assert await source.token() == "tok-1"
    finally:
        await source.aclose()
    assert len(fake.requests) == 1
    method, path, body = fake.requests[0]
    form = parse_qs(body.decode())
    assert (method, path) == ("POST", "/token")
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt_claims(form["assertion"][0], private_key)
    assert claims["iss"] == "gateway@acme-prod.iam.gserviceaccount.com"
    assert claims["aud"] == "https://oauth2.googleapis.com/token"  # google-auth's audience, whatever the URL
    assert claims["scope"] == CLOUD_PLATFORM_SCOPE


async def test_token_is_refreshed_five_minutes_before_expiry(
    serve: Callable[..., FakeServer], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    hits: list[int] = []
    fake = serve(token_endpoint(hits))
    now = [time.time()]
    options = {"credentials": service_account_file(tmp_path, private_key), "token_url": f"{fake.url}/token"}
    source = GoogleTokenSource.from_options(options, clock=lambda: now[0])
    try:
        assert await source.token() == "tok-1"
        issued = time.time()
        now[0] = issued + 3600 - 310  # the token has 310 s left: still used
        assert await source.token() == "tok-1"
        now[0] = issued + 3600 - 290  # under five minutes left: refreshed
        assert await source.token() == "tok-2"
        now[0] = time.time()  # back to the clock google-auth stamped the new token with: cached
        assert await source.token() == "tok-2"
    finally:
        await source.aclose()
    assert len(hits) == 2


async def test_concurrent_callers_share_one_refresh(
    serve: Callable[..., FakeServer], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    hits: list[int] = []
    fake = serve(token_endpoint(hits), delay=0.2)
    options = {"credentials": service_account_file(tmp_path, private_key), "token_url": f"{fake.url}/token"}
    source = GoogleTokenSource.from_options(options)
    try:
        tokens = await asyncio.gather(*(source.token() for _ in range(20)))
    finally:
        await source.aclose()
    assert tokens == ["tok-1"] * 20
    assert len(hits) == 1


async def test_the_event_loop_is_not_blocked_during_a_refresh(
    serve: Callable[..., FakeServer], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    fake = serve(token_endpoint([]), delay=0.3)
    options = {"credentials": service_account_file(tmp_path, private_key), "token_url": f"{fake.url}/token"}
    source = GoogleTokenSource.from_options(options)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await source.token()
    finally:
        ticker.cancel()
        await source.aclose()
    assert ticks >= 10


async def test_a_failed_refresh_is_a_503_and_is_retried_next_time(
    serve: Callable[..., FakeServer], tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    status = [400]
    hits: list[int] = []

    def respond(method: str, path: str, body: bytes) -> Reply:
        return token_endpoint(hits, status[0])(method, path, body)

    fake = serve(respond)
    options = {"credentials": service_account_file(tmp_path, private_key), "token_url": f"{fake.url}/token"}
    source = GoogleTokenSource.from_options(options)
    try:
        with pytest.raises(CredentialsError) as caught:
            await source.token()
        assert caught.value.error.status == 503
        assert "invalid_grant" in caught.value.error.message
        status[0] = 200
        assert await source.token() == "tok-1"
    finally:
        await source.aclose()


async def test_an_unreachable_token_endpoint_is_a_credentials_error(
    tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = {
        "credentials": service_account_file(tmp_path, private_key),
        "token_url": f"http://127.0.0.1:{port}/token",
    }
    source = GoogleTokenSource.from_options(options)
    try:
        with pytest.raises(CredentialsError):
            await source.token()
    finally:
        await source.aclose()


async def test_authorized_user_file_uses_the_refresh_token(serve: Callable[..., FakeServer], tmp_path: Path) -> None:
    hits: list[int] = []
    fake = serve(token_endpoint(hits))
    info = {"type": "authorized_user", "client_id": "cid", "client_secret": "cs", "refresh_token": "rt-1"}
    path = tmp_path / "user.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    source = GoogleTokenSource.from_options({"credentials": str(path), "token_url": f"{fake.url}/token"})
    try:
        assert await source.token() == "tok-1"
    finally:
        await source.aclose()
    form = parse_qs(fake.requests[0][2].decode())
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["rt-1"]


@pytest.mark.parametrize("content", ['{"type": "external_account"}', "[1, 2]"])
async def test_unsupported_credentials_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "creds.json"
    path.write_text(content, encoding="utf-8")
    source = GoogleTokenSource.from_options({"credentials": str(path)})
    with pytest.raises(CredentialsError, match="not supported"):
        await source.token()
    await source.aclose()


async def test_missing_credentials_file_is_a_credentials_error(tmp_path: Path) -> None:
    source = GoogleTokenSource.from_options({"credentials": str(tmp_path / "absent.json")})
    with pytest.raises(CredentialsError):
        await source.token()
    await source.aclose()


async def test_adc_from_google_application_credentials(
    serve: Callable[..., FakeServer],
    tmp_path: Path,
    private_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hits: list[int] = []
    fake = serve(token_endpoint(hits))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", service_account_file(tmp_path, private_key))
    source = GoogleTokenSource.from_options({"token_url": f"{fake.url}/token"})
    try:
        assert await source.token() == "tok-1"
    finally:
        await source.aclose()
    assert fake.requests[0][1] == "/token"


def metadata_server(counter: list[int]) -> Callable[[str, str, bytes], Reply]:
    flavor = {"metadata-flavor": "Google"}
    email = "gateway@acme-prod.iam.gserviceaccount.com"

    def respond(method: str, path: str, body: bytes) -> Reply:
        route = urlsplit(path).path
        if route == "/":
            return 200, flavor, b""
        if route == "/computeMetadata/v1/project/project-id":
            return 200, {**flavor, "content-type": "text/plain"}, b"acme-prod"
        if route == "/computeMetadata/v1/instance/service-accounts/default/":
            info = {"email": email, "scopes": [CLOUD_PLATFORM_SCOPE], "aliases": ["default"]}
            return 200, flavor, json.dumps(info).encode()
        if route in (f"/computeMetadata/v1/instance/service-accounts/{name}/token" for name in (email, "default")):
            counter.append(1)
            token = {"access_token": f"gce-{len(counter)}", "expires_in": 3599, "token_type": "Bearer"}
            return 200, flavor, json.dumps(token).encode()
        return 404, flavor, b"not found"

    return respond


async def test_adc_from_the_metadata_server(
    serve: Callable[..., FakeServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("requests") is None:
        pytest.fail("google-auth imports `requests` for metadata-server credentials: it must be a dependency")
    hits: list[int] = []
    fake = serve(metadata_server(hits))
    host = fake.url.removeprefix("http://")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud credentials on this machine
    monkeypatch.setenv("GCE_METADATA_IP", host)
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", host)  # google-auth reads GCE_METADATA_HOST at import
    source = GoogleTokenSource.from_options({})
    try:
        assert await source.token() == "gce-1"
        assert await source.token() == "gce-1"
    finally:
        await source.aclose()
    assert len(hits) == 1
    token_request = next(path for _, path, _ in fake.requests if "/token" in path)
    assert parse_qs(urlsplit(token_request).query)["scopes"] == [CLOUD_PLATFORM_SCOPE]


async def test_static_token_source() -> None:
    source = StaticTokenSource("fixed")
    assert await source.token() == "fixed"
    await source.aclose()
