"""Frozen start-up objects stay out of collections, and what a reload retires is still reclaimed."""

from __future__ import annotations

import gc
import weakref

from modelmux.runtime import heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector can free it


def test_a_retired_cycle_frozen_at_start_up_is_reclaimed_by_the_next_settle() -> None:
    try:
        node = Node()
        ref = weakref.ref(node)
        heap.settle()  # alive, so frozen
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert ref() is not None  # frozen: a plain collection does not look at it
        heap.settle()
        assert ref() is None
    finally:
        gc.unfreeze()
