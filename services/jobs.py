"""The background worker: a registry of periodic jobs, claimed safely across processes.

A job runs in its own transaction. A worker claims a run by moving the job's lease forward with
one conditional UPDATE, so any number of workers (in-process or `grassroots worker`) may run at
once on PostgreSQL or SQLite without running a job twice in the same period.

Within a job each row's work runs through `isolated`: in a savepoint of its own (a transaction of
its own in a non-transactional job), so one bad row is rolled back alone, logged by id (never its
content), counted in `grassroots_job_rows_failed_total` and skipped; the others go on.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from grassroots import clock, loop_lag, metrics
from models.jobs import JobState
from services.domains import DOMAINS

if TYPE_CHECKING:
    from services.job_process import JobProcess

log = logging.getLogger("grassroots.worker")

JobFunc = Callable[[datetime], Awaitable[str | None]]
R = TypeVar("R")

# Modules whose import registers jobs: each domain's `jobs` module, and the shared ones.
JOB_MODULES: list[str] = [
    "services.housekeeping",
    *(f"services.{domain}.jobs" for domain in DOMAINS),
    "services.notify.jobs",
    "services.reminders",
    "services.retention",
]


@dataclass(frozen=True)
class Job:
    """A periodic job: `func(now)` returns a short summary of what it did for the log."""

    name: str
    every_s: float
    func: JobFunc
    lease_s: float = 300.0
    transactional: bool = True


REGISTRY: dict[str, Job] = {}


def job(
    name: str,
    *,
    every_s: float,
    lease_s: float = 300.0,
    transactional: bool = True,
) -> Callable[[JobFunc], JobFunc]:
    """Register a periodic job under a unique name."""

    def register(func: JobFunc) -> JobFunc:
        if name in REGISTRY and REGISTRY[name].func is not func:
            raise ValueError(f"job {name!r} registered twice")
        REGISTRY[name] = Job(
            name=name,
            every_s=every_s,
            func=func,
            lease_s=lease_s,
            transactional=transactional,
        )
        return func

    return register


def load_jobs() -> dict[str, Job]:
    """Import every job module so its jobs register."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    return REGISTRY


# Rows a job skipped because their work failed, by job name, since the process started.
ROWS_FAILED: defaultdict[str, int] = defaultdict(int)


async def isolated(
    *, job_name: str, row_id: object, work: Callable[[], Awaitable[R]], atomic: bool = True
) -> R | None:
    """Run one row's work alone: a failure is rolled back, logged, counted and gives None.

    `atomic` puts the work in a savepoint (or a transaction of its own outside one); work that
    manages its own transactions passes False. Only the row's id and the exception's type are
    logged: an exception's message may quote personal data.
    """
    try:
        if atomic:
            async with in_transaction():
                return await work()
        return await work()
    except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
        ROWS_FAILED[job_name] += 1
        log.warning("job %s skipped row %s: %s", job_name, row_id, type(exc).__name__)
        return None


def render_rows_failed() -> str:
    """The skipped-row counters as Prometheus text (empty before the first failure)."""
    if not ROWS_FAILED:
        return ""
    lines = [
        "# HELP grassroots_job_rows_failed_total Rows a job skipped because their work failed.",
        "# TYPE grassroots_job_rows_failed_total counter",
    ]
    for name, count in sorted(ROWS_FAILED.items()):
        lines.append(f'grassroots_job_rows_failed_total{{job="{name}"}} {count}')
    return "\n".join(lines) + "\n"


def worker_name() -> str:
    """host:pid, recorded on claimed jobs."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


async def _claim(job: Job, *, now: datetime, worker: str) -> bool:
    await JobState.get_or_create(name=job.name, defaults={"next_run_at": now})
    claimed = await JobState.filter(
        Q(name=job.name),
        Q(next_run_at__lte=now),
        Q(locked_until__isnull=True) | Q(locked_until__lt=now),
    ).update(
        locked_until=now + timedelta(seconds=job.lease_s), locked_by=worker, last_started_at=now
    )
    return claimed == 1


async def run_job(
    job: Job,
    *,
    now: datetime | None = None,
    worker: str | None = None,
    process: JobProcess | None = None,
) -> str | None:
    """Claim and run one job if it is due; returns its summary, or None when not claimed.

    With `process` (the served worker's job process) the job runs there, else here.
    """
    now = now or clock.now()
    worker = worker or worker_name()
    if not await _claim(job, now=now, worker=worker):
        return None
    error: str | None = None
    summary: str | None = None
    started = time.perf_counter()
    try:
        if process is not None:
            summary, skipped = await process.run(name=job.name, now=now)
            for name, count in skipped.items():
                ROWS_FAILED[name] += count
        elif job.transactional:
            async with in_transaction():
                summary = await job.func(now)
        else:
            summary = await job.func(now)
    except Exception as exc:  # noqa: BLE001 - one failing job must not stop the others
        error = type(exc).__name__
        log.exception("job %s failed", job.name)
    metrics.observe_job(
        name=job.name, seconds=time.perf_counter() - started, failed=error is not None
    )
    finished = clock.now()
    await JobState.filter(name=job.name).update(
        locked_until=None,
        next_run_at=now + timedelta(seconds=job.every_s),
        last_finished_at=finished,
        last_error=error,
        runs=F("runs") + 1,
    )
    if error is not None:
        return f"error: {error}"
    summary = summary or "nothing to do"
    log.info("job %s ran: %s", job.name, summary)
    return summary


async def run_due_jobs(
    *,
    now: datetime | None = None,
    stop: asyncio.Event | None = None,
    process: JobProcess | None = None,
) -> dict[str, str | None]:
    """Run every registered job that is due; returns what each claimed job reported.

    Once `stop` is set no further job starts: a stopping worker finishes the job it is in and
    leaves the rest to the next worker, instead of running every job still due.
    """
    results: dict[str, str | None] = {}
    for job in list(load_jobs().values()):
        if stop is not None and stop.is_set():
            break
        summary = await run_job(job, now=now, process=process)
        if summary is not None:
            results[job.name] = summary
    return results


async def run_forever(
    *, stop: asyncio.Event, poll_s: float, process: JobProcess | None = None
) -> None:
    """The worker loop: run due jobs (in `process` if given), sleep, until `stop` is set."""
    load_jobs()
    # A worker alone (`grassroots worker`) measures its loop too; in-process it is the API's.
    loop_lag.start()
    log.info("worker started with jobs: %s", ", ".join(sorted(REGISTRY)) or "none")
    while not stop.is_set():
        try:
            await run_due_jobs(stop=stop, process=process)
        except Exception:  # noqa: BLE001 - e.g. the database is down: try again next tick
            log.warning("worker tick failed; retrying", exc_info=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=poll_s)
        except TimeoutError:
            pass
    log.info("worker stopped")
