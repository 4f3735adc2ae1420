"""A reload keeps what requests on the previous plan may still use, and releases what nothing uses."""

from __future__ import annotations

from modelmux.compiler.compile import compile_file
from modelmux.plan.models import Plan
from modelmux.runtime.holder import PlanHolder
from modelmux.runtime.services import Services


def plan_of(*names: str) -> Plan:
    text = "providers:\n" + "".join(f"  - name: {n}\n    type: mock\n    models: [m]\n" for n in names)
    result = compile_file("reload.yaml", {}, text=text)
    assert result.plan is not None
    return result.plan


async def test_senders_of_removed_providers_are_closed_one_reload_later() -> None:
    services = Services(PlanHolder())
    first = plan_of("kept", "dropped")
    services.install(first, {})
    kept, dropped = (services.clients.get(p) for p in first.providers)
    second = plan_of("kept", "other")
    services.install(second, {})
    assert services.clients.get(first.providers[1]) is dropped, "requests on the previous plan may still use it"
    services.install(plan_of("kept"), {})
    await services._close_retired()
    assert services.clients.get(first.providers[0]) is kept
    assert services.clients.get(first.providers[1]) is not dropped  # the old sender was released
    await services.aclose()


async def test_adapters_of_the_previous_plan_stay_until_the_next_swap() -> None:
    services = Services(PlanHolder())
    first = plan_of("a")
    services.install(first, {})
    adapter = services.run.adapter(first, first.providers[0])
    services.install(plan_of("a", "b"), {})
    assert services.run.adapter(first, first.providers[0]) is adapter
    services.install(plan_of("a", "c"), {})
    assert services.run.adapter(first, first.providers[0]) is not adapter
    await services.aclose()
