"""The response cache: canonical keys, the rules that decide what is cached, stored entries, stream
replay and accumulation, single flight, and the stores entries live in. The policy that uses them is
`modelmux.runtime.middleware.cache`; docs/caching.md describes the behaviour.
"""

from modelmux.cache.decision import CacheDecision, Rules, cache_control, decide
from modelmux.cache.entry import CachedAnswer, storable
from modelmux.cache.keys import cache_key
from modelmux.cache.single_flight import Flight, SingleFlight
from modelmux.cache.stores import CacheBackend, CacheStores, MemoryCache

__all__ = [
    "CacheBackend",
    "CacheDecision",
    "CacheStores",
    "CachedAnswer",
    "Flight",
    "MemoryCache",
    "Rules",
    "SingleFlight",
    "cache_control",
    "cache_key",
    "decide",
    "storable",
]
