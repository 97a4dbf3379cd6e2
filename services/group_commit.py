"""Group commit: the writes of concurrent requests share one transaction and one disk sync.

A disk sync costs milliseconds; under load many requests wait for one. A caller's `run` returns
only after the transaction holding its write has committed, so a 2xx answer still means the
write is on disk. When a group's transaction fails, each write is retried alone, so only the
faulty one fails (with its own error, e.g. an IntegrityError for a replayed id).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

log = logging.getLogger("grassroots.group_commit")

WriteStep = Callable[[BaseDBAsyncClient], Awaitable[None]]


class _Inserts:
    """A step that only inserts new rows: merged with its group's into one INSERT per table."""

    def __init__(self, rows: Sequence[Model]) -> None:
        self.rows = rows

    async def __call__(self, conn: BaseDBAsyncClient) -> None:
        for row in self.rows:
            await row.save(using_db=conn, force_create=True)


class GroupCommit:
    """Commits the writes of concurrent requests in one transaction (see the module doc)."""

    def __init__(self) -> None:
        self._pending: list[tuple[WriteStep, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        _WRITERS.add(self)

    async def run(self, step: WriteStep) -> None:
        """Run `step(conn)` inside the next group's transaction and wait for its commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((step, future))
        if self._task is None:
            self._task = loop.create_task(self._drain())
        await future

    async def insert(self, *rows: Model) -> None:
        """Insert new rows in the next group's transaction (one INSERT per table for the group)."""
        await self.run(_Inserts(rows))

    def insert_soon(self, *rows: Model) -> None:
        """Queue rows for the next group and return at once, without waiting for the commit.

        Only for records of reads (read audits): a crash may lose the last milliseconds of them.
        A write the client is told about always waits (`insert`, `run`).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        future.add_done_callback(_log_failure)
        self._pending.append((_Inserts(rows), future))
        if self._task is None:
            self._task = loop.create_task(self._drain())

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (shutdown, tests)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    async with in_transaction() as conn:
                        by_model: dict[type[Model], list[Model]] = {}
                        for step, _ in group:
                            if isinstance(step, _Inserts):
                                for row in step.rows:
                                    by_model.setdefault(type(row), []).append(row)
                            else:
                                await step(conn)
                        for model, rows in by_model.items():
                            await model.bulk_create(rows, using_db=conn)
                except Exception:  # noqa: BLE001 - judged again one by one below
                    for step, future in group:
                        try:
                            async with in_transaction() as conn:
                                await step(conn)
                        except Exception as exc:  # noqa: BLE001 - handed to its caller
                            _settle(future, exc)
                        else:
                            _settle(future, None)
                else:
                    for _, future in group:
                        _settle(future, None)
        finally:
            self._task = None


_WRITERS: weakref.WeakSet[GroupCommit] = weakref.WeakSet()


async def flush_all() -> None:
    """Commit whatever any group writer still holds (called when the app stops)."""
    for writer in list(_WRITERS):
        await writer.flush()


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a queued write failed: %s", type(future.exception()).__name__)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the caller went away (client disconnected)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
