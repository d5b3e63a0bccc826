"""Sliding-window counters of failed attempts, kept in memory (one server process).

>>> window = SlidingWindow(limit=2, seconds=60)
>>> window.hit("10.0.0.1", now=0); window.retry_after("10.0.0.1", now=1)
0
>>> window.hit("10.0.0.1", now=2); window.retry_after("10.0.0.1", now=3)
57
>>> window.retry_after("10.0.0.1", now=61), len(window)
(0, 1)
>>> window.retry_after("10.0.0.1", now=63), len(window)
(0, 0)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Hashable

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` hits per key within ``seconds``; :meth:`retry_after` says how long to wait once reached."""

    def __init__(self, limit: int, seconds: int):
        self.limit, self.seconds = limit, seconds
        self._hits: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: Hashable, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._hits[key] = self._prune(key, now)
            self._hits[key].append(now)

    def retry_after(self, key: Hashable, now: float | None = None) -> int:
        """Whole seconds until ``key`` may try again; 0 when it may now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._prune(key, now)
            if len(hits) < self.limit:
                return 0
            return max(1, int(hits[0] + self.seconds - now))

    def __len__(self) -> int:
        """How many keys are being watched."""
        return len(self._hits)

    def _prune(self, key: Hashable, now: float) -> deque[float]:
        hits = self._hits.pop(key, deque())  # an address that stopped failing is forgotten: memory stays bounded
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        if hits:
            self._hits[key] = hits
        return hits
