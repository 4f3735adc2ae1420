"""Regions: which region a request comes from, which providers are in it, and their preference order.

A request's region is `facts.region` (header X-ModelMux-Region or the caller's org, filled in by the
executor), else `routing.default_region`. It names a region of `regions:` or one of its aliases (case
does not matter); a name that is neither still matches providers whose `region:` says it.

A provider is in a region when the region lists it under `providers:` or when the provider's own
`region:` is the region's name or an alias. Preference tiers: 0 in the region, then 1, 2, ... for the
region's `nearest:` list in order, then everything else.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelmux.plan.models import Plan, ProviderPlan, RegionPlan


def request_region(plan: Plan, region: str | None) -> RegionPlan | None:
    """The region a request is from (`facts.region`, else the default), or None when there is none."""
    wanted = region or plan.routing.default_region
    if not wanted:
        return None
    key = wanted.strip().casefold()
    for candidate in plan.regions.values():
        if key == candidate.name.casefold() or key in {alias.casefold() for alias in candidate.aliases}:
            return candidate
    return RegionPlan(name=wanted.strip(), providers=(), aliases=(), nearest=())


def in_region(region: RegionPlan, provider: ProviderPlan) -> bool:
    if provider.name in region.providers:
        return True
    if provider.region is None:
        return False
    names = {region.name.casefold(), *(alias.casefold() for alias in region.aliases)}
    return provider.region.strip().casefold() in names


def region_tier(plan: Plan, region: RegionPlan, provider: ProviderPlan) -> int:
    """0 in the region, 1 + i in its i-th nearest region, 1 + len(nearest) elsewhere."""
    if in_region(region, provider):
        return 0
    for position, name in enumerate(region.nearest):
        near = plan.regions.get(name)
        if near is not None and in_region(near, provider):
            return position + 1
    return len(region.nearest) + 1


def by_region(plan: Plan, region: RegionPlan, providers: Sequence[ProviderPlan]) -> list[ProviderPlan]:
    """Stable partition by tier: the order within a tier is kept."""
    return sorted(providers, key=lambda provider: region_tier(plan, region, provider))


def in_region_only(region: RegionPlan, providers: Sequence[ProviderPlan]) -> list[ProviderPlan]:
    return [provider for provider in providers if in_region(region, provider)]
