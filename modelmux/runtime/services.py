"""The long-lived objects of one serving process, created in the app's serving lifecycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelmux.cache.stores import CacheStores
from modelmux.compiler.compile import CompileResult, compile_file
from modelmux.config.env import current_environment
from modelmux.cost.runtime import CostRuntime
from modelmux.observability.telemetry import Telemetry
from modelmux.plan.diff import diff_configs, summary
from modelmux.plan.models import Plan
from modelmux.providers.base import ProviderAdapter
from modelmux.routing import RuntimeState
from modelmux.runtime import heap
from modelmux.runtime.clients import UpstreamClients
from modelmux.runtime.executor import Executor
from modelmux.runtime.holder import PlanHolder
from modelmux.runtime.middleware.base import Handler
from modelmux.runtime.middleware.policies import middleware_for
from modelmux.runtime.pipeline import build_pipeline
from modelmux.runtime.sharing import Sharing
from modelmux.runtime.stores import MemoryStore, StateStore
from modelmux.runtime.upstream import Sender

log = logging.getLogger("modelmux.reload")


@dataclass
class Services:
    holder: PlanHolder
    clients: UpstreamClients = field(default_factory=UpstreamClients)
    state: RuntimeState = field(default_factory=RuntimeState)
    store: StateStore = field(default_factory=MemoryStore)
    executor: Executor | None = None
    public: Mapping[str, object] = field(default_factory=dict)
    started_at: float = 0.0
    telemetry: Telemetry = field(default_factory=Telemetry)
    costs: CostRuntime = field(default_factory=CostRuntime)
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    previous_fingerprint: str | None = None
    last_changes: str = "no changes"
    _retired: list[ProviderAdapter] = field(default_factory=list)
    _retired_senders: list[Sender] = field(default_factory=list)
    _pipelines: dict[str, Handler] = field(default_factory=dict)
    caches: CacheStores = field(default_factory=CacheStores)  # the response cache's stores, across reloads
    sharing: Sharing = field(init=False)  # state shared with other replicas through Redis (`redis:`)

    def __post_init__(self) -> None:
        if self.executor is None:
            self.executor = Executor(self.clients, self.state)
        self.sharing = Sharing(self.state)
        self._local_store = self.store

    @property
    def run(self) -> Executor:
        assert self.executor is not None
        return self.executor

    def install(self, plan: Plan, public: Mapping[str, object]) -> int:
        """Swap in a compiled plan (one assignment); keep runtime state of providers that remain."""
        previous = self.holder.plan
        self.public = public
        self.store = self.sharing.adopt(plan) or self._local_store  # RedisStore when `redis:` is configured
        pipeline = build_pipeline(self, middleware_for(plan, self))
        # Requests still running on the previous plan keep its pipeline and adapters; older ones go.
        keep = {plan.fingerprint} | ({previous.fingerprint} if previous is not None else set())
        self._pipelines = {k: v for k, v in self._pipelines.items() if k in keep}
        self._pipelines[plan.fingerprint] = pipeline
        generation = self.holder.swap(plan)
        self.state.forget_missing(plan)
        self._retired.extend(self.run.retire_plans_except(keep))
        in_use = plan.providers + (previous.providers if previous is not None else ())
        self._retired_senders.extend(self.clients.prune(in_use))
        return generation

    async def reload(self) -> CompileResult | None:
        """Recompile the config file off the request path and swap it in; keep the old plan on failure."""
        source = self.holder.source
        if source is None:
            return None
        async with self._reload_lock:
            result = await asyncio.to_thread(compile_file, source, current_environment())
            if result.plan is None:
                rendered = tuple(d.render() for d in result.errors)
                self.holder.record_failure(rendered)
                self.telemetry.config_reloaded("failed")
                log.error(
                    "reload of %s failed; keeping plan %s:\n%s",
                    source,
                    self._fingerprint(),
                    "\n".join(rendered),
                )
                return result
            self.previous_fingerprint = self._fingerprint()
            self.last_changes = summary(
                diff_configs(dict(self.public), result.public, self.previous_fingerprint, result.plan.fingerprint)
            )
            if self.holder.plan is None or result.plan.fingerprint != self.holder.plan.fingerprint:
                generation = self.install(result.plan, result.public)
                self.telemetry.config_reloaded("ok")
                log.info("reloaded %s: plan %s, generation %d", source, result.plan.fingerprint, generation)
                await self._close_retired()
                heap.settle()  # retired plans' cycles are reclaimed; the new plan is frozen with the rest
            else:
                self.holder.record_unchanged()
                self.telemetry.config_reloaded("unchanged")
            return result

    def pipeline(self, plan: Plan) -> Handler:
        """The policies and executor of `plan`, built when the plan was installed."""
        found = self._pipelines.get(plan.fingerprint)
        if found is None:
            found = self._pipelines[plan.fingerprint] = build_pipeline(self, middleware_for(plan, self))
        return found

    def _fingerprint(self) -> str:
        return self.holder.plan.fingerprint if self.holder.plan else "none"

    async def start(self) -> None:
        """Serving starts: join the replicas sharing Redis (when the plan has `redis:`)."""
        await self.sharing.start(self.holder)

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for adapter in retired:
            await adapter.aclose()
        senders, self._retired_senders = self._retired_senders, []
        for sender in senders:
            await sender.aclose()
        await self.sharing.close_retired()

    async def aclose(self) -> None:
        await self.costs.aclose()  # settles pending costs and writes queued ledger rows first
        await self.sharing.aclose()
        await self.store.aclose()
        await self.caches.aclose()
        await self.run.aclose()
        await self._close_retired()
        await self.clients.aclose()
