"""Judging a 150,000-point round in the worker never holds the event loop for long.

`grassroots serve` runs the worker on the API's event loop: whatever a job does between two
awaits, every request waits for. A probe (tests/stall.py) sleeps 1 ms again and again while
the zone-exit job judges the round, and the longest gap between its wake-ups is the longest
stall.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from models.patrol import Round
from services.job_process import JobProcess
from services.patrol import jobs as patrol_jobs
from services.patrol import points as patrol_points
from tests.patrol.world import EAST, NORTH, SOUTH, WEST, build_world, iso, start_round
from tests.stall import probe_stalls

POINTS = 150_000
STEP_S = 0.2
# The aim is 20 ms (34 ms measured here at load average 12 on 2 cores); on a loaded CI machine
# a thread holding the GIL, a page of rows or a collection adds some: 137 ms was seen with a
# benchmark running beside the suite. The code before the paged judgement held the loop for
# 3.4 s here (Tortoise parsing 150,000 rows at once), so the bound still tells them apart.
STALL_BOUND_S = 0.25


@pytest.fixture
async def world(client, make_unit, make_user, auth):
    return await build_world(client, make_unit, make_user, auth)


async def upload_a_long_round(client, auth, world) -> Round:
    """A 9-hour round, a point every 0.2 s, in loops that leave the zone now and then."""
    now = datetime.now(UTC)
    started_at = now - timedelta(seconds=POINTS * STEP_S + 120)
    r = await client.post(
        f"/zones/{world.zone['id']}/assignments",
        headers=auth(world.supervisor),
        json={
            "user_id": str(world.patrol.id),
            "starts_at": iso(started_at - timedelta(minutes=5)),
            "ends_at": iso(started_at + timedelta(hours=12)),
        },
    )
    assert r.status_code == 201, r.text
    rnd = await start_round(client, auth, world, started_at)
    round_ = await Round.get(id=rnd["id"]).select_related("zone")
    centre_lon, centre_lat = (WEST + EAST) / 2, (SOUTH + NORTH) / 2
    batch: list[patrol_points.PointInput] = []
    for i in range(POINTS):
        angle = i * STEP_S / 600 * 2 * math.pi  # a lap every 10 minutes
        reach = 0.0062 if (i // 6000) % 5 == 4 else 0.004  # every fifth lap goes ~130 m out
        batch.append(
            patrol_points.PointInput(
                id=uuid.uuid4(),
                ts=started_at + timedelta(seconds=60 + i * STEP_S),
                lon=centre_lon + reach * math.cos(angle),
                lat=centre_lat + reach * 0.8 * math.sin(angle),
                accuracy_m=8.0,
            )
        )
        if len(batch) == 1000:
            await patrol_points.add_points(
                round=round_, points=patrol_points.PointBatch.of(batch), now=now
            )
            batch = []
    return round_


async def test_judging_a_150k_point_round_never_stalls_the_event_loop(client, auth, world):
    await upload_a_long_round(client, auth, world)

    probed = await probe_stalls(patrol_jobs.zone_exit_job(datetime.now(UTC) + timedelta(seconds=1)))

    summary = str(probed.result)
    assert "judged 1 rounds" in summary
    assert "raised 0 alerts" not in summary  # the outer laps are exits: real work was judged
    assert probed.longest_s < STALL_BOUND_S, probed.describe()


# In the job process the judging shares nothing with this event loop but a pipe. The loop's
# thread may hold it 20 ms at the most (issue 15); the wall-clock stall adds what the process
# waited for a core, which on a loaded CI machine can be as much again.
JOB_PROCESS_CPU_BOUND_S = 0.02


async def test_judging_in_the_job_process_leaves_the_event_loop_free(client, auth, world, settings):
    await upload_a_long_round(client, auth, world)
    process = JobProcess(settings)
    try:
        # The child starts (imports, connections) before the measured run.
        await process.run(name="auth.prune", now=datetime.now(UTC))
        probed = await probe_stalls(
            process.run(name="patrol.zone_exits", now=datetime.now(UTC) + timedelta(seconds=1))
        )
    finally:
        await process.close()
    summary, _skipped = probed.result
    assert "judged 1 rounds" in str(summary) and "raised 0 alerts" not in str(summary)
    assert probed.longest_cpu_s < JOB_PROCESS_CPU_BOUND_S, probed.describe()
    assert probed.longest_s < STALL_BOUND_S, probed.describe()
