"""The database configuration: the PostgreSQL pool hands connections back without a reset query."""

from __future__ import annotations

import os

import pytest

from grassroots import db
from grassroots.settings import Settings

PG_URL = os.environ.get("GRASSROOTS_TEST_DATABASE_URL")


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL run only")
async def test_pooled_connections_come_back_without_a_reset_round_trip_but_never_in_a_transaction():
    import asyncpg

    assert PG_URL is not None
    credentials = db.tortoise_config(Settings(database_url=PG_URL))["connections"]["default"][
        "credentials"
    ]
    pool = await asyncpg.create_pool(
        host=credentials["host"],
        port=credentials["port"],
        user=credentials["user"],
        password=credentials.get("password"),
        database=credentials["database"],
        min_size=1,
        max_size=1,
        reset=credentials["reset"],
    )
    try:
        async with pool.acquire() as connection:
            await connection.execute("SET application_name = 'kept'")
        async with pool.acquire() as connection:
            # asyncpg's default reset would have run RESET ALL on release.
            assert await connection.fetchval("SHOW application_name") == "kept"
            await connection.execute("BEGIN")
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
    finally:
        await pool.close()
