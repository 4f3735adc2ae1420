"""Access tokens for Vertex AI, from google-auth.

Credentials come from the JSON file named by the provider's `credentials` option (a service account key
or an authorized-user file) or, when there is none, from Application Default Credentials:
GOOGLE_APPLICATION_CREDENTIALS, the gcloud CLI's file, or the metadata server of Compute Engine, GKE
and Cloud Run (google-auth needs the `requests` package for that last one). The `token_url` option
replaces the token endpoint of file credentials (tests point it at a fake server on loopback).

A token is cached and refreshed `REFRESH_MARGIN` seconds before it expires. The refresh blocks (it is
google-auth's synchronous HTTP call), so it runs in a worker thread, and concurrent callers wait for the
one refresh in flight instead of starting their own.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, Protocol

import google.auth
import google.auth.exceptions
import google.auth.transport
import google.oauth2.credentials
import httpx
from google.auth.credentials import Credentials
from google.oauth2 import service_account

from modelmux.providers.base import AdapterError, CanonicalError

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
REFRESH_MARGIN = 300.0
_HTTP_TIMEOUT = 60.0


class TokenSource(Protocol):
    """Where the Vertex adapter gets its bearer token."""

    async def token(self) -> str: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StaticTokenSource:
    """A fixed token: for tests, and for tokens minted elsewhere."""

    value: str

    async def token(self) -> str:
        return self.value

    async def aclose(self) -> None:
        return None


class CredentialsError(AdapterError):
    """No token could be obtained; `error` is what the client sees (the fault is ours, not theirs)."""

    def __init__(self, message: str) -> None:
        super().__init__(CanonicalError(status=503, message=message, type="server_error"))


class _HttpxResponse(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxRequest(google.auth.transport.Request):
    """google-auth's transport interface over a synchronous httpx client (used from a worker thread)."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(timeout=_HTTP_TIMEOUT)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        try:
            response = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout or _HTTP_TIMEOUT
            )
        except httpx.HTTPError as exc:
            raise google.auth.exceptions.TransportError(str(exc)) from exc  # type: ignore[no-untyped-call]
        return _HttpxResponse(response)

    def close(self) -> None:
        self._client.close()


CredentialsLoader = Callable[[google.auth.transport.Request], Credentials]


def load_credentials(path: str | None, token_url: str | None, request: google.auth.transport.Request) -> Credentials:
    """Credentials from a JSON file when `path` is given, else Application Default Credentials."""
    scopes = [CLOUD_PLATFORM_SCOPE]
    credentials: Credentials
    if path:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "service_account":
            credentials = service_account.Credentials.from_service_account_info(info, scopes=scopes)  # type: ignore[no-untyped-call]
        elif kind == "authorized_user":
            credentials = google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=scopes)  # type: ignore[no-untyped-call]
        else:
            raise CredentialsError(f"{path}: credentials of type {kind!r} are not supported")
    else:
        credentials, _ = google.auth.default(scopes=scopes, request=request)
    if token_url and isinstance(credentials, service_account.Credentials | google.oauth2.credentials.Credentials):
        credentials = credentials.with_token_uri(token_url)
    return credentials


class GoogleTokenSource:
    """Cached google-auth access tokens, refreshed early, one refresh at a time."""

    def __init__(
        self,
        load: CredentialsLoader,
        *,
        request: google.auth.transport.Request | None = None,
        margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._load = load
        self._request = request
        self._owns_request = request is None
        self._margin = margin
        self._clock = clock
        self._credentials: Credentials | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **kwargs: Any) -> GoogleTokenSource:
        path, token_url = options.get("credentials"), options.get("token_url")

        def load(request: google.auth.transport.Request) -> Credentials:
            return load_credentials(path, token_url, request)

        return cls(load, **kwargs)

    async def token(self) -> str:
        if self._token is None or not self._fresh():
            async with self._lock:
                if self._token is None or not self._fresh():
                    self._token, self._expires_at = await asyncio.to_thread(self._refresh)
        assert self._token is not None
        return self._token

    def _fresh(self) -> bool:
        return self._clock() < self._expires_at - self._margin

    def _refresh(self) -> tuple[str, float]:
        """Runs in a worker thread: load the credentials once, then ask for a new token."""
        if self._request is None:
            self._request = HttpxRequest()
        try:
            if self._credentials is None:
                self._credentials = self._load(self._request)
            self._credentials.refresh(self._request)  # type: ignore[no-untyped-call]
        except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as exc:
            raise CredentialsError(f"could not obtain a Google access token: {exc}") from exc
        token, expiry = self._credentials.token, self._credentials.expiry
        if not token:
            raise CredentialsError("google-auth returned no access token")
        # google-auth keeps expiry as a naive UTC datetime, and None for a token that does not expire.
        expires_at = math.inf if expiry is None else expiry.replace(tzinfo=UTC).timestamp()
        return str(token), expires_at

    async def aclose(self) -> None:
        if self._owns_request and isinstance(self._request, HttpxRequest):
            self._request.close()
            self._request = None
