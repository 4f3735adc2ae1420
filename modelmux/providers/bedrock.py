"""Amazon Bedrock: the Converse API for chat, InvokeModel for embeddings, SigV4 signing by botocore.

POST {base_url}/model/{modelId}/converse (`/converse-stream` for streams; `/invoke` for embeddings),
with the model id percent-encoded in the path (`anthropic.claude-3-5-sonnet-20240620-v1:0`, inference
profiles and ARNs alike). Requests are signed with `botocore.auth.SigV4Auth` for the service `bedrock`
in the provider's `region`.

Credentials, in order: the `credentials` option's static keys (`access_key_id`, `secret_access_key`,
optional `session_token`); its `profile`; else botocore's default chain (environment, shared config
and credentials files, SSO, web identity, container and instance metadata). They are resolved once, in
a worker thread (the chain may read files or call a metadata endpoint), and cached; botocore refreshes
temporary credentials, and when a refresh is due it too runs in a worker thread.

ConverseStream answers with the binary event stream (`eventstream`); its events become OpenAI chunks
and its exception messages raise `UpstreamStreamError` with the status the error would have had
unstreamed. Errors outside streams carry their kind in the `x-amzn-errortype` header.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import botocore.auth  # type: ignore[import-untyped]
import botocore.awsrequest  # type: ignore[import-untyped]
import botocore.credentials  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
import botocore.session  # type: ignore[import-untyped]
import httpx
import orjson

from modelmux.plan.models import ProviderPlan
from modelmux.providers.base import (
    AdapterError,
    CanonicalError,
    JSONObject,
    ProviderAdapter,
    StreamDecoder,
    UnsupportedOperation,
    UpstreamStreamError,
    UpstreamTarget,
)
from modelmux.providers.bedrock_translate import (
    embedding_family,
    finish_reason,
    openai_usage,
    to_chat_completion,
    to_converse_request,
    to_embedding_request,
    to_embeddings,
)
from modelmux.providers.eventstream import EventMessage, EventStreamDecoder, EventStreamError
from modelmux.providers.openai import default_error_type, error_from_response, header, retry_after_seconds

SERVICE = "bedrock"
EVENTSTREAM = "application/vnd.amazon.eventstream"
DEFAULT_MAX_TOKENS = 4096
# Bedrock's error kinds (`x-amzn-errortype`, stream `:exception-type`), lower-cased, and the status
# each is answered with. ModelStreamErrorException (424 at AWS) and ModelErrorException (424) are
# upstream model failures worth retrying elsewhere, so they become 500 and 502.
ERROR_STATUS = {
    "throttlingexception": 429,
    "modelnotreadyexception": 429,
    "accessdeniedexception": 403,
    "unrecognizedclientexception": 403,
    "resourcenotfoundexception": 404,
    "validationexception": 400,
    "modeltimeoutexception": 408,
    "serviceunavailable": 503,
    "serviceunavailableexception": 503,
    "internalserverexception": 500,
    "modelstreamerrorexception": 500,
    "modelerrorexception": 502,
}
_REGION_IN_HOST = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


class AwsCredentialsError(AdapterError):
    """No AWS credentials could be obtained: a 503 (the fault is the gateway's, not the client's)."""

    def __init__(self, message: str) -> None:
        super().__init__(CanonicalError(503, message, "server_error"))


class AwsCredentialSource:
    """botocore credentials for signing: resolved once off the event loop, then cached.

    `spec` is the provider's `credentials` option; `credentials` an already resolved botocore
    credentials object (static or refreshable) to use instead.
    """

    def __init__(self, spec: Mapping[str, Any] | None = None, *, credentials: Any = None) -> None:
        self._spec = dict(spec or {})
        self._credentials: Any = credentials
        self._lock = asyncio.Lock()

    async def frozen(self) -> Any:
        """A consistent (access key, secret key, token) snapshot, refreshed by botocore when due."""
        if self._credentials is None:
            async with self._lock:
                if self._credentials is None:
                    self._credentials = await asyncio.to_thread(self._resolve)
        credentials = self._credentials
        refresh_needed = getattr(credentials, "refresh_needed", None)
        if callable(refresh_needed) and refresh_needed():
            return await asyncio.to_thread(_freeze, credentials)
        return _freeze(credentials)

    def _resolve(self) -> Any:
        spec = self._spec
        key, secret = spec.get("access_key_id"), spec.get("secret_access_key")
        if key and secret:
            return botocore.credentials.Credentials(key, secret, spec.get("session_token"), method="explicit")
        try:
            found = botocore.session.Session(profile=spec.get("profile") or None).get_credentials()
        except (botocore.exceptions.BotoCoreError, OSError, ValueError) as exc:
            raise AwsCredentialsError(f"could not load AWS credentials: {exc}") from exc
        if found is None:
            raise AwsCredentialsError(
                "no AWS credentials found (environment, shared config and credentials files, "
                "web identity, container or instance metadata)"
            )
        return found


def _freeze(credentials: Any) -> Any:
    try:
        return credentials.get_frozen_credentials()
    except (botocore.exceptions.BotoCoreError, OSError, ValueError) as exc:
        raise AwsCredentialsError(f"could not refresh AWS credentials: {exc}") from exc


def sign(
    url: str, body: bytes, headers: Mapping[str, str], credentials: Any, region: str, method: str = "POST"
) -> dict[str, str]:
    """The headers with SigV4 added (`authorization`, `x-amz-date`, `x-amz-security-token`)."""
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    botocore.auth.SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return {str(name).lower(): str(value) for name, value in request.headers.items()}


class BedrockAdapter(ProviderAdapter):
    """Bedrock Runtime; `credentials` replaces the option-driven source (tests)."""

    def __init__(self, provider: ProviderPlan, *, credentials: AwsCredentialSource | None = None) -> None:
        super().__init__(provider)
        options = provider.options
        spec = options.get("credentials")
        self.credentials = credentials or AwsCredentialSource(spec if isinstance(spec, Mapping) else None)
        self.default_max_tokens = int(options.get("default_max_tokens") or DEFAULT_MAX_TOKENS)

    def region(self) -> str:
        region = self.provider.region or self.provider.options.get("region")
        if not region:
            found = _REGION_IN_HOST.search(self.provider.base_url or "")
            region = found.group(1) if found else None
        if not region:
            message = f"provider {self.provider.name!r}: bedrock needs a region to sign requests"
            raise AdapterError(CanonicalError(500, message, "server_error"))
        return str(region)

    def model_url(self, model: str, action: str) -> str:
        base = self.provider.base_url or f"https://bedrock-runtime.{self.region()}.amazonaws.com"
        return f"{base.rstrip('/')}/model/{quote(model, safe='')}/{action}"

    async def signed_request(self, url: str, payload: JSONObject, *, accept: str) -> httpx.Request:
        content = orjson.dumps(payload)
        headers = {"content-type": "application/json", "accept": accept}
        headers.update((name.lower(), secret.reveal()) for name, secret in self.provider.headers)
        region = self.region()
        signed = sign(url, content, headers, await self.credentials.frozen(), region)
        timeout = httpx.Timeout(self.provider.timeout, connect=self.provider.connect_timeout).as_dict()
        return httpx.Request("POST", url, headers=signed, content=content, extensions={"timeout": timeout})

    async def build_chat(self, body: JSONObject, target: UpstreamTarget, *, stream: bool) -> httpx.Request:
        payload = to_converse_request(body, default_max_tokens=self.default_max_tokens)
        url = self.model_url(target.upstream_model, "converse-stream" if stream else "converse")
        return await self.signed_request(url, payload, accept=EVENTSTREAM if stream else "application/json")

    def parse_chat(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        return to_chat_completion(payload, target.public_model)

    def stream_decoder(self, target: UpstreamTarget) -> StreamDecoder:
        return BedrockStreamDecoder()

    def parse_error(self, status: int, headers: Mapping[str, str], payload: bytes) -> CanonicalError:
        return parse_bedrock_error(status, headers, payload)

    async def build_embeddings(self, body: JSONObject, target: UpstreamTarget) -> httpx.Request:
        model = target.upstream_model
        if embedding_family(model) is None:
            families = "amazon.titan-embed-* or cohere.embed-*"
            raise UnsupportedOperation(f"{model!r} is not an embedding model ModelMux can call ({families})")
        payload = to_embedding_request(body, model)
        return await self.signed_request(self.model_url(model, "invoke"), payload, accept="application/json")

    def parse_embeddings(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        return to_embeddings(payload, target.upstream_model, target.public_model)


# Errors ---------------------------------------------------------------------------------------------


def _error_object(payload: bytes) -> Mapping[str, Any]:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, Mapping) else {}


def bedrock_error(kind: str | None, message: str | None, status: int, **extra: Any) -> CanonicalError:
    """The error for a Bedrock error kind: its mapped status (else `status`), the kind as `code`.

    Stream exceptions spell kinds in camel case (`throttlingException`), responses in Pascal case
    (`ThrottlingException`); the code is always the latter. A model timeout is the upstream's fault.
    """
    code = kind[:1].upper() + kind[1:] if kind else None
    mapped = ERROR_STATUS.get((kind or "").lower(), status)
    text = message or code or f"upstream returned HTTP {status}"
    kind_name = "server_error" if mapped == 408 else default_error_type(mapped)
    return CanonicalError(mapped, text, kind_name, code, **extra)


def parse_bedrock_error(status: int, headers: Mapping[str, str], payload: bytes) -> CanonicalError:
    """A Bedrock error response: kind from `x-amzn-errortype` (or `__type`), message from the body."""
    data = _error_object(payload)
    kind = (header(headers, "x-amzn-errortype") or "").split(":", 1)[0].strip()
    if not kind and isinstance(data.get("__type"), str):
        kind = data["__type"].rsplit("#", 1)[-1]
    message = data.get("message") or data.get("Message")
    if not isinstance(message, str) or not message:
        message = error_from_response(status, headers, payload).message
    return bedrock_error(kind, message, status, retry_after=retry_after_seconds(headers))


def _malformed(what: str) -> UpstreamStreamError:
    error = CanonicalError(502, f"malformed upstream event stream: {what}", "server_error")
    return UpstreamStreamError(error)


def stream_exception(message: EventMessage) -> UpstreamStreamError:
    """The error carried by an `exception` (or `error`) message of the stream."""
    if message.text_header(":message-type") == "error":
        kind, text = message.text_header(":error-code"), message.text_header(":error-message")
        return UpstreamStreamError(bedrock_error(kind, text, 500))
    body = _error_object(message.payload)
    text = body.get("message") or body.get("Message")
    kind = message.text_header(":exception-type")
    return UpstreamStreamError(bedrock_error(kind, str(text) if text else None, 500))


# Streams --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tool:
    index: int
    has_arguments: bool = False


def _chunk(delta: JSONObject, finish: str | None = None) -> JSONObject:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


class BedrockStreamDecoder(StreamDecoder):
    """ConverseStream event-stream bytes -> OpenAI chunk dicts (usage last, from `metadata`)."""

    def __init__(self) -> None:
        self._frames = EventStreamDecoder()
        self._tools: dict[int, _Tool] = {}
        self._finish_sent = False
        self._done = False

    def feed(self, data: bytes) -> list[JSONObject]:
        self.raise_pending()
        try:
            messages = self._frames.feed(data)
        except EventStreamError as exc:
            raise _malformed(str(exc)) from exc
        return self._handle(messages)

    def finish(self) -> list[JSONObject]:
        self.raise_pending()
        try:
            self._frames.finish()
        except EventStreamError as exc:
            raise _malformed(str(exc)) from exc
        if not self._finish_sent:
            error = CanonicalError(502, "the upstream stream ended before messageStop", "server_error")
            raise UpstreamStreamError(error)
        return []

    def _handle(self, messages: list[EventMessage]) -> list[JSONObject]:
        return self.decode_items(messages, self._message, lambda: self._done)

    def _message(self, message: EventMessage) -> list[JSONObject]:
        if message.text_header(":message-type") in ("exception", "error"):
            raise stream_exception(message)
        event = message.text_header(":event-type") or ""
        try:
            data = orjson.loads(message.payload) if message.payload else {}
            if not isinstance(data, dict):
                raise TypeError("payload is not an object")
            return self._event(event, data)
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            raise _malformed(f"{event} {message.payload[:200]!r}") from exc

    def _event(self, event: str, data: JSONObject) -> list[JSONObject]:
        match event:
            case "messageStart":
                return [_chunk({"role": data.get("role") or "assistant", "content": "", "refusal": None})]
            case "contentBlockStart":
                return self._block_start(int(data.get("contentBlockIndex", 0)), data.get("start") or {})
            case "contentBlockDelta":
                return self._block_delta(int(data.get("contentBlockIndex", 0)), data.get("delta") or {})
            case "contentBlockStop":
                return self._block_stop(int(data.get("contentBlockIndex", 0)))
            case "messageStop":
                if self._finish_sent:
                    return []
                self._finish_sent = True
                reason = finish_reason(data.get("stopReason"), tool_calls=bool(self._tools))
                return [_chunk({}, reason)]
            case "metadata":
                self._done = True
                return [{"choices": [], "usage": openai_usage(data.get("usage") or {})}]
        return []  # event types added after this was written

    def _block_start(self, block: int, start: JSONObject) -> list[JSONObject]:
        use = start.get("toolUse")
        if not isinstance(use, dict):
            return []
        tool = self._tools[block] = _Tool(len(self._tools))
        function = {"name": use.get("name"), "arguments": ""}
        call = {"index": tool.index, "id": use.get("toolUseId"), "type": "function", "function": function}
        return [_chunk({"tool_calls": [call]})]

    def _block_delta(self, block: int, delta: JSONObject) -> list[JSONObject]:
        if isinstance(delta.get("text"), str) and delta["text"]:
            return [_chunk({"content": delta["text"]})]
        use, tool = delta.get("toolUse"), self._tools.get(block)
        if isinstance(use, dict) and tool is not None and use.get("input"):
            tool.has_arguments = True
            return [self._arguments(tool, str(use["input"]))]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict) and reasoning.get("text"):
            return [_chunk({"reasoning_content": str(reasoning["text"])})]
        return []  # reasoning signatures, citations, and blocks not forwarded

    def _block_stop(self, block: int) -> list[JSONObject]:
        tool = self._tools.get(block)
        if tool is not None and not tool.has_arguments:
            tool.has_arguments = True
            return [self._arguments(tool, "{}")]  # a call with no input still has JSON arguments
        return []

    def _arguments(self, tool: _Tool, fragment: str) -> JSONObject:
        return _chunk({"tool_calls": [{"index": tool.index, "function": {"arguments": fragment}}]})
