"""The served worker's jobs in a process of their own, so none holds the API's event loop.

In `grassroots serve` the worker shares its process with the API. Its jobs are CPU work in
Python: zone-exit judging (geometry over every new point of every round) held the event loop
for up to 37 ms at a time even in threads, and the threads' share of the one interpreter lock
took a third of the API's CPU while it ran (check-ins served 709/s instead of 1,234/s beside a
150,000-point round, bench/b3_checkins.py); the fan-out of alerts, notices and reminders and
the closing of correction intervals are row-by-row Python too. Here every job runs in one
child process (spawned on first use, its own interpreter, its own database connections) while
the worker awaits it: the worker still claims each job, records its run and its metrics, and
sends the deliveries the jobs queue. A job runs as it would in `grassroots worker`, a process
of its own, which every job already supports.

The child runs one job at a time, as the worker does, and closes its connections when the
worker stops. A child that dies (killed, out of memory) fails the run it was in
(`JobProcessDied`); the next run starts a new one. A SQLite database in memory keeps the jobs
in the API's process (`JobProcess.usable`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import multiprocessing
import multiprocessing.process
import os
import pickle
import signal
from collections.abc import Coroutine
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from grassroots.settings import Settings

log = logging.getLogger("grassroots.worker")

R = TypeVar("R")


class JobProcessDied(RuntimeError):
    """The job process ended in the middle of a run (killed, out of memory)."""


class JobProcess:
    """The worker's child process for its jobs (started on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._child: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None
        # One run at a time through the pipe, as the worker runs its jobs.
        self._lock = asyncio.Lock()

    @staticmethod
    def usable(settings: Settings) -> bool:
        """Whether the jobs may run in a process of their own: on PostgreSQL and on a SQLite file.

        SQLite takes it because every transaction begins IMMEDIATE (`grassroots.sqlite`): a
        commit of the job process can no longer fail the API's read-then-write transactions,
        it makes them wait for the lock. A database in memory is the API process's alone.
        """
        url = settings.database_url
        if url.startswith("sqlite://"):
            return settings.job_process and ":memory:" not in url
        return settings.job_process

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return None if self._child is None else self._child.pid

    def _start(self) -> Connection:
        # Spawned, not forked: a fork of a process with an event loop, threads and open
        # database connections would inherit all of them half-way.
        parent_end, child_end = multiprocessing.get_context("spawn").Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=_child_main,
            args=(self.settings, child_end),
            name="grassroots-jobs",
            daemon=True,
        )
        child.start()
        child_end.close()
        self._child, self._pipe = child, parent_end
        return parent_end

    async def run(self, *, name: str, now: datetime) -> tuple[str | None, dict[str, int]]:
        """Run job `name` at `now` in the child: its summary and the rows it skipped.

        The job's own exception is raised here, as the child's type with its message (an
        exception's message may quote personal data: the worker logs only its type).
        """
        async with self._lock:
            pipe = self._pipe if self._pipe is not None else await asyncio.to_thread(self._start)
            try:
                await asyncio.to_thread(pipe.send, (name, now))
                outcome, value = await asyncio.to_thread(pipe.recv)
            except (EOFError, OSError) as exc:
                # The child died: this run failed, the next one starts a new child.
                await asyncio.to_thread(self._reap)
                raise JobProcessDied(name) from exc
        if outcome == "error":
            raise value
        summary, skipped = value
        return summary, skipped

    def _reap(self) -> None:
        child, pipe, self._child, self._pipe = self._child, self._pipe, None, None
        if pipe is not None:
            pipe.close()
        if child is not None:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
                child.join()

    async def close(self) -> None:
        """Stop the child after the run it is in (the worker has awaited that run already)."""
        async with self._lock:
            if self._pipe is not None:
                try:
                    await asyncio.to_thread(self._pipe.send, None)
                except OSError:
                    pass  # already gone
            await asyncio.to_thread(self._reap)


# --- in the child ------------------------------------------------------------------------------


def _child_main(settings: Settings, pipe: Connection) -> None:
    """Run the jobs the worker sends until it sends None, then close the connections."""
    from tortoise import Tortoise

    from grassroots import db
    from grassroots.logs import configure

    configure(settings.log_level)
    # Ctrl-C in a terminal reaches the whole process group: the worker stops this process
    # itself once the run in hand is over, instead of having it die in the middle of one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # Tortoise keeps its connections in a context variable: every run goes in this one context,
    # where the init set them (a task otherwise runs in a copy, and its settings die with it).
    context = contextvars.copy_context()

    def in_context(coro: Coroutine[Any, Any, R]) -> R:
        return loop.run_until_complete(loop.create_task(coro, context=context))

    in_context(Tortoise.init(config=db.tortoise_config(settings)))
    log.info("job process %s started", os.getpid())
    try:
        while True:
            try:
                request = pipe.recv()
            except EOFError:
                return  # the worker is gone
            if request is None:
                return
            name, now = request
            try:
                pipe.send(("ok", in_context(_run_job(name, now))))
            except Exception as exc:  # noqa: BLE001 - the worker records the run as failed
                pipe.send(("error", _portable(exc)))
    finally:
        in_context(Tortoise.close_connections())
        loop.close()


async def _run_job(name: str, now: datetime) -> tuple[str | None, dict[str, int]]:
    """One run of job `name` (the worker has claimed it), with the rows it skipped."""
    from tortoise.transactions import in_transaction

    from services import jobs

    job = jobs.load_jobs()[name]
    before = dict(jobs.ROWS_FAILED)
    if job.transactional:
        async with in_transaction():
            summary = await job.func(now)
    else:
        summary = await job.func(now)
    skipped = {
        key: count - before.get(key, 0)
        for key, count in jobs.ROWS_FAILED.items()
        if count != before.get(key, 0)
    }
    return summary, skipped


def _portable(exc: Exception) -> Exception:
    """The exception itself when it pickles, else a RuntimeError named after its type."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - e.g. a driver's exception with required arguments
        return RuntimeError(type(exc).__name__)
    return exc
