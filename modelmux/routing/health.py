"""Active health checks: a background task per serving process that probes providers on a timer.

A provider opts in with `health_check: {enabled, interval, timeout, model}` (it lands in
`provider.options["health_check"]`). Every `interval` the checker sends one probe, bounded by `timeout`:
- OpenAI family (openai, openai_compatible, huggingface): `GET {base_url}/models` with the provider's
  auth headers; azure_openai `GET {base_url}/openai/models?api-version=...`; anthropic `GET /v1/models`;
  cohere `GET /v1/models` (the same requests `modelmux doctor --online` sends);
- mock: `GET /models` answered inside the process by the mock transport (no network; `failure_rate`
  applies, so a mock can be made to fail its checks);
- other types (vertex_ai, bedrock): a minimal chat request (one user message, `max_tokens: 1`) to the
  check's `model`, built by the provider's adapter; without a `model` the provider is not checked and
  a warning says so once.

A probe fails when no answer comes within `timeout`, the connection fails, or the upstream answers 5xx,
401 or 403 (credentials rejected); any other answer (2xx, 404, 429, a 400 for the check's model)
proves the endpoint is up. A failure calls `ProviderRuntimeState.mark_unhealthy`: the router excludes
the provider ("health check failed"), the `availability` strategy and `/health/ready` see it; the next
success calls `mark_healthy`. Probes use the checker's own HTTP client, take no request slot, no
rate-limit token and no breaker probe, and do not feed the latency averages. The checker reads the
current plan on every tick, so reloads add, drop and re-time checks; a provider whose checks are turned
off is marked healthy again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from modelmux.plan.models import Plan, ProviderPlan
from modelmux.providers.base import ProviderAdapter, UpstreamTarget
from modelmux.routing.state import RuntimeState

log = logging.getLogger("modelmux.health")

MAX_SLEEP = 1.0  # seconds between looks at the plan when no check is due sooner (reloads show within it)
FAILING_STATUSES = frozenset({401, 403})
GET_PROBE_TYPES = frozenset({"openai", "openai_compatible", "huggingface", "azure_openai", "anthropic", "cohere"})

PlanSource = Callable[[], Plan | None]
AdapterSource = Callable[[Plan, ProviderPlan], ProviderAdapter]


@dataclass(frozen=True, slots=True)
class CheckSettings:
    interval: float
    timeout: float
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    detail: str


def settings_for(provider: ProviderPlan) -> CheckSettings | None:
    """The provider's health check settings, or None when it has none or they are turned off."""
    raw = provider.options.get("health_check")
    if not raw or not raw.get("enabled", True):
        return None
    model = raw.get("model")
    return CheckSettings(
        interval=max(float(raw.get("interval", 30.0)), 0.01),
        timeout=max(float(raw.get("timeout", 5.0)), 0.001),
        model=str(model) if model else None,
    )


class HealthChecker:
    """Probes the current plan's providers on their own timers and feeds the routing state."""

    def __init__(
        self,
        plan: PlanSource,
        state: RuntimeState,
        adapter: AdapterSource | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._plan = plan
        self._state = state
        self._adapter = adapter
        self._clock = clock
        self._client = client
        self._owns_client = client is None
        self._due: dict[str, tuple[float, CheckSettings]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._warned: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Check until `stop` is set; in-flight probes are cancelled and the client closed on the way out."""
        try:
            while not stop.is_set():
                self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._sleep_time())
        finally:
            running = list(self._running.values())
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await self.aclose()

    def tick(self) -> None:
        """Start the probes that are due (one in flight per provider) and follow plan changes."""
        plan = self._plan()
        if plan is None:
            return
        now = self._clock()
        wanted: set[str] = set()
        for provider in plan.providers:
            settings = settings_for(provider)
            if settings is None:
                self._turned_off(provider.name)
                continue
            wanted.add(provider.name)
            due = self._due.get(provider.name)
            if provider.name in self._running or (due is not None and due[1] == settings and now < due[0]):
                continue  # one probe in flight per provider; changed settings check at once
            self._due[provider.name] = (now + settings.interval, settings)
            task = asyncio.create_task(self._probe(plan, provider, settings), name=f"health-{provider.name}")
            self._running[provider.name] = task
        for name in [name for name in self._due if name not in wanted]:
            del self._due[name]

    async def check(self, plan: Plan, provider: ProviderPlan, settings: CheckSettings) -> ProbeResult | None:
        """Probe one provider once and record the verdict in the routing state (None: cannot be checked)."""
        try:
            async with asyncio.timeout(settings.timeout):
                result = await self._send(plan, provider, settings)
        except TimeoutError:
            result = ProbeResult(False, f"no answer within {settings.timeout:g}s")
        if result is not None:
            self._record(provider, settings, result)
        return result

    async def aclose(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def _sleep_time(self) -> float:
        if not self._due:
            return MAX_SLEEP
        soonest = min(due for due, _ in self._due.values()) - self._clock()
        return min(max(soonest, 0.005), MAX_SLEEP)

    def _turned_off(self, name: str) -> None:
        self._due.pop(name, None)
        state = self._state.get(name)
        if state is not None and state.unhealthy is not None and name not in self._running:
            state.mark_healthy()

    async def _probe(self, plan: Plan, provider: ProviderPlan, settings: CheckSettings) -> None:
        try:
            await self.check(plan, provider, settings)
        except Exception:  # a checker bug must not stop the other checks or the server
            log.exception("health check of provider %s failed unexpectedly", provider.name)
        finally:
            self._running.pop(provider.name, None)

    async def _send(self, plan: Plan, provider: ProviderPlan, settings: CheckSettings) -> ProbeResult | None:
        try:
            request = await self._request(plan, provider, settings)
        except Exception as exc:  # credentials or a translation the adapter cannot make: it cannot serve
            return ProbeResult(False, f"could not build the probe ({type(exc).__name__})")
        if request is None:
            return None
        what = f"{request.method} {request.url.path}"
        try:
            if provider.type == "mock":
                async with httpx.AsyncClient(transport=_mock_transport(provider), timeout=None) as mock:
                    response = await mock.send(request)
            else:
                response = await self._http().send(request)
        except httpx.HTTPError as exc:
            return ProbeResult(False, f"{what}: {type(exc).__name__}")
        status = response.status_code
        if status >= 500 or status in FAILING_STATUSES:
            return ProbeResult(False, f"{what} answered {status}")
        return ProbeResult(True, f"{what} answered {status}")

    async def _request(self, plan: Plan, provider: ProviderPlan, settings: CheckSettings) -> httpx.Request | None:
        if provider.type == "mock":
            return httpx.Request("GET", f"{provider.base_url}/models")
        if provider.type in GET_PROBE_TYPES:
            from modelmux.doctor.online import probe_request

            return probe_request(provider)
        if settings.model is None or self._adapter is None:
            self._warn_once(provider, f"type {provider.type!r} is checked with a chat request: set health_check.model")
            return None
        adapter = self._adapter(plan, provider)
        upstream = provider.upstream_model(settings.model) or settings.model
        body = {"model": settings.model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
        return await adapter.build_chat(body, UpstreamTarget(provider, settings.model, upstream), stream=False)

    def _record(self, provider: ProviderPlan, settings: CheckSettings, result: ProbeResult) -> None:
        current = self._plan()
        if current is not None and provider.name not in current.provider_index:
            return  # reloaded away while the probe ran: keep no state for it
        state = self._state.provider(provider)
        if result.ok:
            if state.unhealthy is not None:
                log.info("provider %s passed its health check again (%s)", provider.name, result.detail)
            state.mark_healthy()
            return
        if state.unhealthy is None:
            log.warning("provider %s failed its health check: %s", provider.name, result.detail)
        state.mark_unhealthy(result.detail, settings.interval)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False, timeout=None)  # bounded per probe
        return self._client

    def _warn_once(self, provider: ProviderPlan, message: str) -> None:
        if provider.name not in self._warned:
            self._warned.add(provider.name)
            log.warning("health check of provider %s skipped: %s", provider.name, message)


def _mock_transport(provider: ProviderPlan) -> httpx.AsyncBaseTransport:
    from modelmux.providers.mock import mock_transport_for

    return mock_transport_for(provider)
