"""The routing core: pure, deterministic decisions over a plan, with an injected clock and random.

`Router.decide(plan, facts)` picks the route and orders the candidate providers; `RuntimeState` holds
each provider's breaker, outbound limits, latency averages and in-flight count by name, across plan
swaps; `backoff_delay` spaces retries; `price_for` and `estimate_cost` price a request;
`check_lua_script` lets the compiler check a custom routing script.
"""

from modelmux.routing.backoff import backoff_ceiling, backoff_delay
from modelmux.routing.breaker import BreakerState, CircuitBreaker
from modelmux.routing.decision import (
    DOES_NOT_SERVE,
    NOT_CHOSEN,
    NOT_IN_TARGET,
    OUTSIDE_REGION,
    RouteDecision,
    Router,
)
from modelmux.routing.latency import ALPHA, Ewma
from modelmux.routing.limiter import OutboundLimiter, TokenBucket
from modelmux.routing.lua import LuaRouter, LuaScriptError, check_lua_script
from modelmux.routing.pricing import PriceTable, builtin_prices, estimate_cost, lookup_price, price_for
from modelmux.routing.state import (
    CIRCUIT_OPEN,
    FAILURE_KINDS,
    RATE_LIMITED,
    Availability,
    ProviderRuntimeState,
    RuntimeState,
)
from modelmux.routing.strategies import STRATEGIES, estimated_cost

__all__ = [
    "ALPHA",
    "CIRCUIT_OPEN",
    "DOES_NOT_SERVE",
    "FAILURE_KINDS",
    "NOT_CHOSEN",
    "NOT_IN_TARGET",
    "OUTSIDE_REGION",
    "RATE_LIMITED",
    "STRATEGIES",
    "Availability",
    "BreakerState",
    "CircuitBreaker",
    "Ewma",
    "LuaRouter",
    "LuaScriptError",
    "OutboundLimiter",
    "PriceTable",
    "ProviderRuntimeState",
    "RouteDecision",
    "Router",
    "RuntimeState",
    "TokenBucket",
    "backoff_ceiling",
    "backoff_delay",
    "builtin_prices",
    "check_lua_script",
    "estimate_cost",
    "estimated_cost",
    "lookup_price",
    "price_for",
]
