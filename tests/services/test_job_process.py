"""The served worker's jobs run in its job process, off the API's interpreter.

On PostgreSQL and on a SQLite file (`JobProcess.usable`) the worker claims a job and awaits
it; the work itself (here zone-exit judging, geometry over every new point) runs in a spawned
child with its own database connections, so the API's event loop and its interpreter lock stay
free (services/job_process.py; bench/b3_checkins.py measures it). The child works on either
database, and these tests run it on both.
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta

import pytest

from grassroots.settings import Settings
from models.alerts import Alert
from models.jobs import JobState
from services import jobs
from services.job_process import JobProcess
from tests.patrol.world import build_world, make_track, start_round


@pytest.fixture
async def world(client, make_unit, make_user, auth):
    return await build_world(client, make_unit, make_user, auth)


async def upload_round_with_an_exit(client, auth, world) -> str:
    started_at = datetime.now(UTC) - timedelta(minutes=40)
    rnd = await start_round(client, auth, world, started_at)
    r = await client.post(
        f"/rounds/{rnd['id']}/points",
        headers=auth(world.patrol),
        json={"points": make_track(started_at).points},
    )
    assert r.status_code == 200, r.text
    return rnd["id"]


async def run_zone_exits(process: JobProcess, now: datetime) -> str | None:
    # Due at once: a run claims the job only when its next run is due.
    await JobState.filter(name="patrol.zone_exits").update(next_run_at=now - timedelta(seconds=1))
    return await jobs.run_job(jobs.load_jobs()["patrol.zone_exits"], now=now, process=process)


async def test_zone_exits_are_judged_in_a_child_process(client, auth, world, settings):
    await upload_round_with_an_exit(client, auth, world)
    process = JobProcess(settings)
    try:
        summary = await run_zone_exits(process, datetime.now(UTC) + timedelta(seconds=1))
        assert summary == "judged 1 rounds, raised 1 alerts"
        assert process.pid is not None and process.pid != os.getpid()
        # The child's writes are the database's: the parent reads the alert it raised.
        alert = await Alert.get(kind="zone_exit")
        assert alert.org_path == world.street.path
        state = await JobState.get(name="patrol.zone_exits")
        assert state.last_error is None and state.runs == 1
    finally:
        await process.close()
    assert process.pid is None


async def test_a_child_that_dies_fails_its_run_and_the_next_run_starts_another(
    client, auth, world, settings
):
    process = JobProcess(settings)
    try:
        now = datetime.now(UTC) + timedelta(seconds=1)
        assert await run_zone_exits(process, now) == "judged 0 rounds, raised 0 alerts"
        first = process.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await upload_round_with_an_exit(client, auth, world)
        assert await run_zone_exits(process, now + timedelta(seconds=31)) == (
            "error: JobProcessDied"
        )
        assert (await JobState.get(name="patrol.zone_exits")).last_error == "JobProcessDied"
        # The round is still to be judged, and the next run judges it in a new child.
        later = now + timedelta(seconds=62)
        assert await run_zone_exits(process, later) == "judged 1 rounds, raised 1 alerts"
        assert process.pid not in (None, first)
    finally:
        await process.close()


async def test_a_job_that_fails_in_the_child_fails_its_run_here(settings):
    process = JobProcess(settings)
    try:
        with pytest.raises(KeyError):
            await process.run(name="no.such.job", now=datetime.now(UTC))
        # The child lives on for the next run.
        pid = process.pid
        assert await process.run(name="patrol.zone_exits", now=datetime.now(UTC)) == (
            "judged 0 rounds, raised 0 alerts",
            {},
        )
        assert process.pid == pid
    finally:
        await process.close()


def test_postgresql_and_a_sqlite_file_take_the_jobs_out_of_the_api_process():
    key = "k" * 40
    pg = "postgres://postgres@127.0.0.1:5432/grassroots"
    assert JobProcess.usable(Settings(database_url=pg, secret_key=key))
    assert not JobProcess.usable(Settings(database_url=pg, secret_key=key, job_process=False))
    # A SQLite file: its transactions begin IMMEDIATE (grassroots.sqlite, tests/test_sqlite.py).
    assert JobProcess.usable(Settings(database_url="sqlite:///tmp/x.db", secret_key=key))
    assert not JobProcess.usable(
        Settings(database_url="sqlite:///tmp/x.db", secret_key=key, job_process=False)
    )
    # A database in memory exists in the API's process only.
    assert not JobProcess.usable(Settings(database_url="sqlite://:memory:", secret_key=key))
