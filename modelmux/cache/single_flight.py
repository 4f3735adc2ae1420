"""Single flight: of concurrent identical cache misses in one process, the first (the leader) asks the
upstream and the others wait for its answer instead of asking too.

The leader lands its flight exactly once, with the stored entry or None (an answer that may not be
cached, an error, a cancelled stream); followers given None ask the upstream themselves.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class Flight:
    key: str
    leader: bool
    future: asyncio.Future[bytes | None]
    owner: SingleFlight

    def land(self, entry: bytes | None) -> None:
        """The leader's answer (None: nothing to share); a no-op for followers and after the first call."""
        if self.leader:
            self.owner.land(self, entry)

    async def wait(self, timeout: float) -> bytes | None:
        """A follower's wait for the leader's entry; None when it has none or takes longer than `timeout`."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.future), timeout)
        except TimeoutError:
            return None


class SingleFlight:
    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[bytes | None]] = {}

    def join(self, key: str) -> Flight:
        """Lead a new flight for `key`, or follow the one in the air."""
        future = self._flights.get(key)
        if future is not None and not future.done():
            return Flight(key, False, future, self)
        future = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        return Flight(key, True, future, self)

    def land(self, flight: Flight, entry: bytes | None) -> None:
        if self._flights.get(flight.key) is flight.future:
            del self._flights[flight.key]
        if not flight.future.done():
            flight.future.set_result(entry)

    def __len__(self) -> int:
        return len(self._flights)
