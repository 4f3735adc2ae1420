"""What every provider adapter is: a translator between OpenAI's API and one upstream's wire format.

An adapter builds an `httpx.Request` from the canonical request (the client's OpenAI request body, a
dict already checked by the ingress) and turns upstream bytes back into OpenAI shapes: a
`chat.completion` dict, `chat.completion.chunk` dicts for streams, an embeddings list, or a
`CanonicalError`. It owns no retry, no routing, no metrics and no client: the executor sends the
request with a pooled client and owns those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from modelmux.plan.models import ProviderPlan

JSONObject = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """Where one attempt goes: the provider, and the model name on both sides."""

    provider: ProviderPlan
    public_model: str
    upstream_model: str


@dataclass(frozen=True, slots=True)
class CanonicalError:
    """An error in OpenAI's shape, with the HTTP status the client should see."""

    status: int
    message: str
    type: str = "api_error"
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None

    def body(self) -> JSONObject:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class UpstreamStreamError(Exception):
    """An error event inside an upstream stream, after the stream began."""

    def __init__(self, error: CanonicalError) -> None:
        super().__init__(error.message)
        self.error = error


class StreamDecoder(ABC):
    """Incremental decoder of one upstream stream into OpenAI chunk dicts.

    `feed` takes raw bytes as they arrive (a read may end in the middle of an SSE event or of a
    multi-byte UTF-8 character) and returns the chunks completed so far. Chunks carry `choices` and
    optionally `usage`; the executor stamps one `id`, `created`, `model` and `object` on all of them.
    `finish` is called at the end of the upstream body. Both raise `UpstreamStreamError` on an error event.

    How the network splits bytes must not change what the client sees: decoders use `decode_items`, so
    chunks decoded before an error event in the same read are returned first and the error is raised by
    the next `feed` or `finish` (which call `raise_pending` first).
    """

    _pending: UpstreamStreamError | None = None

    def raise_pending(self) -> None:
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error

    def decode_items(
        self, items: Iterable[T], decode: Callable[[T], list[JSONObject]], stop: Callable[[], bool] | None = None
    ) -> list[JSONObject]:
        chunks: list[JSONObject] = []
        try:
            for item in items:
                if stop is not None and stop():
                    break
                chunks.extend(decode(item))
        except UpstreamStreamError as error:
            if not chunks:
                raise
            self._pending = error
        return chunks

    @abstractmethod
    def feed(self, data: bytes) -> list[JSONObject]: ...

    @abstractmethod
    def finish(self) -> list[JSONObject]: ...


class ProviderAdapter(ABC):
    """Translate one request and its response. One instance per provider in a plan; stateless per request."""

    def __init__(self, provider: ProviderPlan) -> None:
        self.provider = provider

    @abstractmethod
    async def build_chat(self, body: JSONObject, target: UpstreamTarget, *, stream: bool) -> httpx.Request:
        """The upstream request for a chat completion (credentials included)."""

    @abstractmethod
    def parse_chat(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        """A `chat.completion` dict from a successful upstream body (its `model` is the public name)."""

    @abstractmethod
    def stream_decoder(self, target: UpstreamTarget) -> StreamDecoder:
        """A fresh decoder for one streamed response."""

    @abstractmethod
    def parse_error(self, status: int, headers: Mapping[str, str], payload: bytes) -> CanonicalError:
        """The upstream's error, with its message, in OpenAI's shape and with a faithful status."""

    async def build_embeddings(self, body: JSONObject, target: UpstreamTarget) -> httpx.Request:
        raise UnsupportedOperation(f"provider type {self.provider.type!r} does not serve embeddings")

    def parse_embeddings(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        raise UnsupportedOperation(f"provider type {self.provider.type!r} does not serve embeddings")

    async def aclose(self) -> None:  # noqa: B027 - optional hook, a no-op for most adapters
        """Release anything the adapter holds (a credentials refresher, for example)."""


class UnsupportedOperation(Exception):
    """The provider type cannot serve this endpoint; the executor answers 400 or moves on."""


class AdapterError(Exception):
    """A request the adapter cannot translate, or credentials it cannot obtain; `error` is the answer."""

    def __init__(self, error: CanonicalError) -> None:
        super().__init__(error.message)
        self.error = error
