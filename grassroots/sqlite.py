"""SQLite shared by several processes: a transaction takes the write lock when it begins.

Tortoise begins a transaction with a plain (deferred) BEGIN: it reads under a snapshot and asks
for the write lock at its first write. When another process (the served worker's job process,
`grassroots worker` beside `grassroots serve --no-worker`, a second API process) committed in
between, that write fails at once with SQLITE_BUSY: the snapshot is stale, and no busy timeout
waits it out. Here every transaction begins with BEGIN IMMEDIATE: it waits for the lock (up to
the busy timeout) before its first read, and nothing commits beneath it afterwards. Within one
process nothing changes, since Tortoise runs one transaction at a time on its one connection.

The Tortoise engine `grassroots.sqlite` (`grassroots.db.tortoise_config`); statements outside
a transaction are Tortoise's own.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            # Tortoise commits first in case a statement left a transaction open; asked here
            # without the round trip to the connection's thread that a commit always costs.
            if self._connection.in_transaction:
                await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    """Tortoise's SQLite client whose transactions begin IMMEDIATE (nested ones are savepoints)."""

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient
