"""A per-user sliding-window rate limit, so one person cannot keep the bot busy."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class RateLimiter:
    def __init__(self, limit: int, window: float, clock=time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[int, deque[float]] = defaultdict(deque)

    def hit(self, user_id: int) -> float:
        """Record a request; returns 0 if allowed, else the seconds until the next is."""
        now = self.clock()
        hits = self._hits[user_id]
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        return 0.0
