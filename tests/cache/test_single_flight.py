"""Single flight: one leader per key, followers get the leader's entry."""

from __future__ import annotations

import asyncio

from modelmux.cache.single_flight import SingleFlight


async def test_the_first_caller_leads_and_the_others_follow() -> None:
    flights = SingleFlight()
    leader = flights.join("k")
    followers = [flights.join("k") for _ in range(3)]
    assert leader.leader and not any(f.leader for f in followers)
    waits = [asyncio.create_task(f.wait(5.0)) for f in followers]
    leader.land(b"entry")
    assert await asyncio.gather(*waits) == [b"entry"] * 3
    assert len(flights) == 0


async def test_after_landing_the_next_caller_leads_a_new_flight() -> None:
    flights = SingleFlight()
    first = flights.join("k")
    first.land(None)
    first.land(b"late")  # a second landing changes nothing
    assert await first.wait(1.0) is None
    assert flights.join("k").leader


async def test_keys_fly_apart() -> None:
    flights = SingleFlight()
    assert flights.join("a").leader and flights.join("b").leader


async def test_a_follower_stops_waiting_after_its_timeout() -> None:
    flights = SingleFlight()
    flights.join("k")
    assert await flights.join("k").wait(0.01) is None
