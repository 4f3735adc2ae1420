"""The protocol every state store implements. Every operation that must be atomic across replicas
is one call here (a Lua script in Redis), never a read followed by a write."""

from __future__ import annotations

from typing import Protocol


class StoreUnavailable(Exception):
    """The shared store did not answer in time (or refused); the message names the operation, never a
    key's value."""


class StateStore(Protocol):
    async def take_tokens(self, key: str, capacity: float, refill_per_second: float, amount: float) -> float:
        """Token bucket: take `amount` if the bucket holds it; 0.0 when granted, else the seconds to wait.
        A full bucket grants any amount (so a request larger than the bucket is not refused forever)."""
        ...

    async def return_tokens(self, key: str, capacity: float, amount: float) -> None:
        """Put back tokens taken for an estimate that turned out too high (never above capacity)."""
        ...

    async def add(self, key: str, amount: float, ttl: float) -> float:
        """Add to a counter (created at 0 with the given time to live); the new value."""
        ...

    async def get_number(self, key: str) -> float:
        """A counter's value, 0.0 when absent."""
        ...

    async def acquire_slot(self, key: str, limit: int, ttl: float) -> bool:
        """Take one of `limit` concurrency slots; False when all are taken. Slots expire after `ttl`."""
        ...

    async def release_slot(self, key: str) -> None: ...

    async def get_bytes(self, key: str) -> bytes | None: ...

    async def set_bytes(self, key: str, value: bytes, ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def aclose(self) -> None: ...
