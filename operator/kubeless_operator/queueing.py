"""A work queue of Function keys: coalescing, one worker per key, two lanes, back-off.

Watch events of a Function and of its children all say the same thing, "look at
this Function again", and they come in bursts. The queue keeps each key once: a
key added while queued is not added twice, and a key added while a worker handles
it is handled once more afterwards, never by two workers at once.

Keys added as urgent (a Function that is new or whose spec changed) are handed
out before the others (status updates, resyncs), so that in a burst of new
Functions every one gets its children before any gets its status polished.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Hashable
from typing import Generic, TypeVar

KeyT = TypeVar("KeyT", bound=Hashable)


class WorkQueue(Generic[KeyT]):
    def __init__(self, *, base_delay: float = 0.5, max_delay: float = 60.0) -> None:
        self._lanes: tuple[collections.deque[KeyT], collections.deque[KeyT]] = (
            collections.deque(), collections.deque())  # urgent, normal
        self._queued: dict[KeyT, bool] = {}  # key -> is urgent
        self._processing: set[KeyT] = set()
        self._dirty: dict[KeyT, bool] = {}  # added while processed -> is urgent
        self._has_keys = asyncio.Event()
        self._delayed: dict[KeyT, asyncio.TimerHandle] = {}
        self._failures: dict[KeyT, int] = {}
        self.base_delay = base_delay
        self.max_delay = max_delay

    def __len__(self) -> int:
        return len(self._queued) + len(self._dirty)

    def add(self, key: KeyT, *, urgent: bool = False) -> None:
        if key in self._processing:
            self._dirty[key] = self._dirty.get(key, False) or urgent
            return
        was_urgent = self._queued.get(key)
        if was_urgent or (was_urgent is False and not urgent):
            return
        # A key promoted to urgent leaves a stale entry in the normal lane;
        # _pop() skips entries whose key is no longer queued.
        self._queued[key] = urgent
        self._lanes[0 if urgent else 1].append(key)
        self._has_keys.set()

    def add_after(self, key: KeyT, delay: float) -> None:
        """Add the key once ``delay`` seconds pass; an earlier pending add wins."""
        loop = asyncio.get_running_loop()
        pending = self._delayed.get(key)
        if pending is not None and pending.when() <= loop.time() + delay:
            return
        if pending is not None:
            pending.cancel()
        self._delayed[key] = loop.call_later(delay, self._add_delayed, key)

    def retry(self, key: KeyT) -> float:
        """Add the key again after a delay that doubles with each failure in a row."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.base_delay * 2.0**failures, self.max_delay)
        self.add_after(key, delay)
        return delay

    def forget_failures(self, key: KeyT) -> None:
        self._failures.pop(key, None)

    async def get(self) -> tuple[KeyT, bool]:
        """The next key and whether it was urgent; it is the caller's until done()."""
        while True:
            popped = self._pop()
            if popped is not None:
                return popped
            self._has_keys.clear()
            await self._has_keys.wait()

    def done(self, key: KeyT) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self.add(key, urgent=self._dirty.pop(key))

    def close(self) -> None:
        for handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()

    def _pop(self) -> tuple[KeyT, bool] | None:
        for lane, is_urgent in zip(self._lanes, (True, False), strict=True):
            while lane:
                key = lane.popleft()
                if self._queued.get(key) is is_urgent:
                    del self._queued[key]
                    self._processing.add(key)
                    return key, is_urgent
        return None

    def _add_delayed(self, key: KeyT) -> None:
        self._delayed.pop(key, None)
        self.add(key)
