"""Event-loop lag: a small task sleeps a few milliseconds and records how late it wakes up.

The lateness is how long something else held the loop (a request, a job's CPU work, a blocking
call): what every request in this process waited on top of its own work. A timer of 5 ms sees
every stall longer than that (a slower timer sees a stall only when it falls due inside it).
`start()` runs the one monitor of the running loop (the API's lifespan and the worker call it);
its readings go to `/metrics` (`grassroots.metrics`: the last reading, the longest stall of the
last minute, and a histogram of the readings).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from grassroots import metrics

INTERVAL_S = 0.005
# The longest stall of the last minute is the figure to watch; the all-time one never recovers.
WINDOW_S = 60.0


@dataclass
class LoopLag:
    """Figures of one process's event-loop lag, in seconds; `exported` ones also go to /metrics."""

    exported: bool = False
    last_s: float = 0.0
    max_s: float = 0.0
    samples: int = 0
    _recent: deque[tuple[float, float]] = field(default_factory=deque, repr=False)
    _watches: list[list[float]] = field(default_factory=list, repr=False)

    def observe(self, lag_s: float, *, at: float | None = None) -> None:
        """Record one wake-up `lag_s` late."""
        at = time.monotonic() if at is None else at
        self.last_s = lag_s
        self.max_s = max(self.max_s, lag_s)
        self.samples += 1
        # Keep only a decreasing run of (time, lag): the window's maximum is its first entry.
        while self._recent and self._recent[-1][1] <= lag_s:
            self._recent.pop()
        self._recent.append((at, lag_s))
        while self._recent and self._recent[0][0] < at - WINDOW_S:
            self._recent.popleft()
        for watch in self._watches:
            watch[0] = max(watch[0], lag_s)
        if self.exported:
            metrics.LOOP_LAG.set(lag_s)
            metrics.LOOP_LAG_MAX_1M.set(self._recent[0][1])
            metrics.LOOP_LAG_SECONDS.observe(lag_s)

    def recent_max_s(self) -> float:
        """The longest stall of the last minute."""
        cutoff = time.monotonic() - WINDOW_S
        while self._recent and self._recent[0][0] < cutoff:
            self._recent.popleft()
        return self._recent[0][1] if self._recent else 0.0

    @contextlib.contextmanager
    def watch(self) -> Iterator[list[float]]:
        """The longest stall seen while the block runs, in `[0]` of what it yields."""
        watch = [0.0]
        self._watches.append(watch)
        try:
            yield watch
        finally:
            self._watches.remove(watch)


LAG = LoopLag(exported=True)
_TASKS: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


async def monitor(*, lag: LoopLag = LAG, interval_s: float = INTERVAL_S) -> None:
    """Sleep `interval_s` again and again and record each overshoot, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval_s)
        lag.observe(max(0.0, loop.time() - started - interval_s))


def start() -> asyncio.Task[None]:
    """The monitor of the running loop, started once per loop (API and worker share it)."""
    loop = asyncio.get_running_loop()
    for other in [other for other, task in _TASKS.items() if task.done() or other.is_closed()]:
        del _TASKS[other]
    task = _TASKS.get(loop)
    if task is None:
        task = loop.create_task(monitor(), name="grassroots.loop_lag")
        _TASKS[loop] = task
    return task
