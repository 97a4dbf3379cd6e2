"""How long a piece of work holds the event loop: a probe task that keeps sleeping 1 ms.

`grassroots serve` runs the worker on the API's event loop, so whatever a job does between two
awaits, every request waits for. The probe's longest gap between wake-ups (less its own
sleep) is the longest stall. The heap is settled as the served process settles it
(`api.app._settle_heap`): without it a full collection of a test process's heap alone takes
0.3-1 s on a loaded machine, whatever the job does.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from api.app import _settle_heap

T = TypeVar("T")


@dataclass(frozen=True)
class Probed:
    """What the work returned, the longest stall and the whole run, in seconds.

    `longest_cpu_s` is the most CPU the event loop's thread spent between two wake-ups of the
    probe: what the work itself held the loop for. The wall-clock stall adds the time the
    process waited for a core, which on a machine shared with other work can be far more.
    """

    result: object
    longest_s: float
    longest_cpu_s: float
    elapsed_s: float
    # The longest garbage collection meanwhile (in any thread: it holds the GIL throughout).
    longest_gc_s: float = 0.0

    def describe(self) -> str:
        """The figures in milliseconds, for a failure message or a record."""
        return (
            f"longest stall {self.longest_s * 1000:.0f} ms (loop thread's CPU "
            f"{self.longest_cpu_s * 1000:.1f} ms, longest collection "
            f"{self.longest_gc_s * 1000:.0f} ms), run {self.elapsed_s:.1f} s"
        )


async def probe_stalls(work: Awaitable[T]) -> Probed:
    """Run `work` while a probe measures the longest time the event loop was held."""
    longest = longest_cpu = 0.0
    done = asyncio.Event()

    async def probe() -> None:
        nonlocal longest, longest_cpu
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now, now_cpu = time.perf_counter(), time.thread_time()
            longest = max(longest, now - last - 0.001)
            longest_cpu = max(longest_cpu, now_cpu - last_cpu)
            last, last_cpu = now, now_cpu

    collections: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            collections.append(time.perf_counter() - gc_started[0])

    thresholds = gc.get_threshold()
    _settle_heap()
    gc.callbacks.append(on_gc)
    probing = asyncio.create_task(probe())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    try:
        result = await work
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        await probing
        gc.callbacks.remove(on_gc)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    return Probed(
        result=result,
        longest_s=longest,
        longest_cpu_s=longest_cpu,
        elapsed_s=elapsed,
        longest_gc_s=max(collections, default=0.0),
    )
