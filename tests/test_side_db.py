"""A test's side database is its own and is dropped after it: a PostgreSQL run leaves none."""

from __future__ import annotations

import os

import pytest

from tests.side_db import database_exists, side_database


@pytest.mark.skipif(
    not os.environ.get("GRASSROOTS_TEST_DATABASE_URL"), reason="the PostgreSQL run only"
)
def test_a_side_database_is_dropped_after_its_test(tmp_path) -> None:
    name = f"gr_probe_{os.getpid()}"
    with side_database("probe", tmp_path) as url:
        assert url.endswith(f"/{name}") and database_exists(name)
    assert not database_exists(name)


def test_on_sqlite_it_is_a_file_in_the_given_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GRASSROOTS_TEST_DATABASE_URL", raising=False)
    with side_database("probe", tmp_path) as url:
        assert url == f"sqlite://{tmp_path / 'probe.db'}"
