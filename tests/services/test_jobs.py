"""The worker claims each due job once, even with several workers at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from models.jobs import JobState
from services import jobs


@pytest.fixture
def counting_job(db):
    calls: list[datetime] = []

    async def tick(now: datetime) -> str:
        calls.append(now)
        return f"call {len(calls)}"

    job = jobs.Job(name="test.count", every_s=60, func=tick)
    return job, calls


async def test_a_due_job_runs_and_is_not_due_again_until_its_period(counting_job):
    job, calls = counting_job
    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert await jobs.run_job(job, now=now) == "call 1"
    assert await jobs.run_job(job, now=now + timedelta(seconds=30)) is None
    assert await jobs.run_job(job, now=now + timedelta(seconds=61)) == "call 2"
    state = await JobState.get(name="test.count")
    assert state.runs == 2 and state.locked_until is None


async def test_concurrent_workers_run_it_once(counting_job):
    job, calls = counting_job
    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    results = await asyncio.gather(*[jobs.run_job(job, now=now, worker=f"w{i}") for i in range(5)])
    assert sum(r is not None for r in results) == 1
    assert len(calls) == 1


async def test_a_crashed_claim_is_taken_over_after_its_lease(counting_job):
    job, calls = counting_job
    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    await JobState.create(
        name=job.name, next_run_at=now, locked_until=now + timedelta(seconds=300), locked_by="dead"
    )
    assert await jobs.run_job(job, now=now + timedelta(seconds=10)) is None
    assert await jobs.run_job(job, now=now + timedelta(seconds=301)) == "call 1"


async def test_a_failing_job_is_recorded_and_released(db):
    async def boom(_now: datetime) -> str:
        raise ValueError("nope")

    job = jobs.Job(name="test.boom", every_s=10, func=boom)
    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert await jobs.run_job(job, now=now) == "error: ValueError"
    state = await JobState.get(name="test.boom")
    assert state.last_error == "ValueError" and state.locked_until is None


async def test_a_failing_job_rolls_back_its_writes(db, make_unit):
    from models.org import OrgUnit

    async def half(_now: datetime) -> str:
        await OrgUnit.create(name="half-done", path="/x/")
        raise RuntimeError("after a write")

    await jobs.run_job(jobs.Job(name="test.half", every_s=10, func=half), now=datetime.now(UTC))
    assert not await OrgUnit.filter(name="half-done").exists()


async def test_registered_jobs_include_housekeeping(db):
    assert "auth.prune" in jobs.load_jobs()


async def test_run_forever_stops_when_asked(db):
    stop = asyncio.Event()
    task = asyncio.create_task(jobs.run_forever(stop=stop, poll_s=0.05))
    # Wait for the first run rather than a fixed time: on a busy machine all jobs take longer.
    for _ in range(200):
        if await JobState.filter(name="auth.prune").exists():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert task.done() and await JobState.filter(name="auth.prune").exists()


async def test_a_stopping_worker_starts_no_further_job(db, monkeypatch):
    """Stop asked during one job: the jobs after it are left for the next worker."""
    stop = asyncio.Event()
    ran: list[str] = []

    async def first(now: datetime) -> str:
        ran.append("first")
        stop.set()  # SIGTERM arrives while this job runs
        return "done"

    async def second(now: datetime) -> str:
        ran.append("second")
        return "done"

    registry = {
        "test.first": jobs.Job(name="test.first", every_s=60, func=first),
        "test.second": jobs.Job(name="test.second", every_s=60, func=second),
    }
    monkeypatch.setattr(jobs, "load_jobs", lambda: registry)
    results = await jobs.run_due_jobs(stop=stop)
    assert ran == ["first"] and list(results) == ["test.first"]
    assert not await JobState.filter(name="test.second", last_finished_at__isnull=False).exists()
