"""grassroots.loop_lag: the one monitor sees a blocked event loop, and exports what it saw."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY

from grassroots import loop_lag


async def test_the_monitor_measures_how_long_the_loop_was_held() -> None:
    lag = loop_lag.LoopLag()
    task = asyncio.get_running_loop().create_task(loop_lag.monitor(lag=lag, interval_s=0.005))
    try:
        await asyncio.sleep(0.05)
        with lag.watch() as longest:
            await asyncio.sleep(0.02)
            quiet = longest[0]
            time.sleep(0.12)  # noqa: ASYNC251 - holding the loop is the point
            await asyncio.sleep(0.03)
        assert quiet < 0.1
        assert 0.1 <= longest[0] < 0.5
        assert lag.recent_max_s() >= 0.1 and lag.max_s >= 0.1
        assert lag.samples > 5
    finally:
        task.cancel()


def test_the_window_forgets_old_stalls() -> None:
    lag = loop_lag.LoopLag()
    now = time.monotonic()
    lag.observe(0.5, at=now - loop_lag.WINDOW_S - 1)
    lag.observe(0.002, at=now)
    assert lag.recent_max_s() == 0.002
    assert lag.max_s == 0.5


def test_only_the_process_monitor_exports_its_readings() -> None:
    def exported(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    before = exported("grassroots_event_loop_lag_observed_seconds_count")
    loop_lag.LoopLag().observe(0.7)  # a private monitor (as in the test above): not exported
    assert exported("grassroots_event_loop_lag_observed_seconds_count") == before
    loop_lag.LAG.observe(0.7)
    assert exported("grassroots_event_loop_lag_observed_seconds_count") == before + 1
    assert exported("grassroots_event_loop_lag_seconds") == 0.7
    assert exported("grassroots_event_loop_lag_max_1m_seconds") >= 0.7
    loop_lag.LAG.observe(0.001)
    assert exported("grassroots_event_loop_lag_seconds") == 0.001
    assert exported("grassroots_event_loop_lag_max_1m_seconds") >= 0.7  # kept for a minute


async def test_start_runs_one_monitor_per_loop() -> None:
    first = loop_lag.start()
    assert loop_lag.start() is first
    await asyncio.sleep(0.03)
    assert not first.done()
