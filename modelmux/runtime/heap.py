"""Keeps the cyclic garbage collector off the request path.

A worker holds about 90,000 long-lived objects (modules, pydantic schemas, the plan); a full collection
walks them all (about 16 ms), and generation-2 collections came every few hundred requests: that was
the p99 under load. Once serving starts, and again after each reload, what is garbage is collected and
what survives is frozen out of later collections, so plans retired by a reload are still reclaimed.
"""

from __future__ import annotations

import gc


def settle(*, reclaim_frozen: bool = True) -> None:
    """Collect the garbage there is now, then freeze the survivors (one collection's pause). At start-up
    nothing frozen can be garbage yet, so `reclaim_frozen=False` skips walking what is already frozen."""
    if reclaim_frozen:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
