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

from tortoise.backends.base.client import TransactionalDBClient, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
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


class _ImmediateTransactionContext(SqliteTransactionContext):
    """Tortoise's context, except that a BEGIN that fails gives the connection back.

    Tortoise takes the connection's lock (the one every statement of the process waits for)
    and then begins; a plain BEGIN never waits, so its context never expected to fail there.
    BEGIN IMMEDIATE fails when another process holds the write lock past the busy timeout, and
    without this the lock would stay taken: every later statement of the process would hang.
    """

    async def __aenter__(self) -> TransactionalDBClient:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(self.token)
                raise
        except BaseException:
            self._trxlock.release()
            raise
        return self.connection


class ImmediateSqliteClient(SqliteClient):
    """Tortoise's SQLite client whose transactions begin IMMEDIATE (nested ones are savepoints)."""

    def _in_transaction(self) -> TransactionContext:
        return _ImmediateTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient
