"""Every operation of the OpenAPI spec, called by every principal, answers what the table says.

The rows are in tests/trust/authz_table.py; an operation without a row fails here, so an endpoint
cannot ship without its authorization written down. One test per operation (all principals
inside it): the database is emptied between tests, and every cell builds its own request.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.trust.authz_table import ROWS, ROWS_OWED
from tests.trust.world import BAD_TOKENS, PRINCIPALS, SIGNED_IN, TALLY, TWINS, World, build_world

METHODS = {"get", "put", "post", "patch", "delete"}


def _operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    from api.app import create_app
    from grassroots.settings import Settings

    spec = create_app(Settings(), manage_db=False).openapi()
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                found[operation["operationId"]] = (method.upper(), path, operation)
    return found


OPERATIONS = _operations()
OBJECT_PARAM = re.compile(r"\{(id|\w+_id)\}")


def _is_success(status: int) -> bool:
    return 200 <= status < 300


def test_every_operation_has_a_row_and_every_row_an_operation():
    missing = sorted(set(OPERATIONS) - set(ROWS) - set(ROWS_OWED))
    stale = sorted((set(ROWS) | set(ROWS_OWED)) - set(OPERATIONS))
    assert not missing, f"operations without a row in tests/trust/authz_table.py: {missing}"
    assert not stale, f"rows for operations that do not exist: {stale}"
    assert not set(ROWS) & set(ROWS_OWED), "an operation with a row is still listed as owed"


@pytest.mark.parametrize("operation_id", sorted(ROWS))
def test_row_follows_the_rules(operation_id: str):
    """Every column filled; bad tokens 401 where a token is needed; no 5xx expected; where a
    principal reaches an object by id, its out-of-scope twin gets 404, never 403 or 200."""
    row = ROWS[operation_id]
    assert set(row.expect) == set(PRINCIPALS), set(PRINCIPALS) ^ set(row.expect)
    assert all(100 <= s < 500 for s in row.expect.values()), row.expect
    if operation_id not in OPERATIONS:
        return  # reported by the coverage test
    _, path, operation = OPERATIONS[operation_id]
    if operation.get("security"):
        assert all(row.expect[p] == 401 for p in BAD_TOKENS), row.expect
    if OBJECT_PARAM.search(path):
        for principal, twin in TWINS.items():
            if _is_success(row.expect[principal]) and not _is_success(row.expect[twin]):
                assert row.expect[twin] == 404, f"{twin} must get 404, not {row.expect[twin]}"


@pytest.fixture
async def world(app: Any, settings: Any) -> AsyncIterator[World]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield await build_world(client=client, settings=settings)


@pytest.mark.parametrize("operation_id", sorted(set(ROWS) & set(OPERATIONS)))
async def test_authorization_matrix(operation_id: str, world: World):
    row = ROWS[operation_id]
    method, template, _ = OPERATIONS[operation_id]
    # Refusals first, successes last: a success can never change a later refusal's answer.
    order = sorted(PRINCIPALS, key=lambda p: _is_success(row.expect[p]))
    answers: dict[str, int] = {}
    problems: list[str] = []
    for principal in order:
        req = await row.request(world)
        path = template.format(**{k: str(v) for k, v in req.path.items()})
        response = await world.client.request(
            method,
            path,
            params=req.query,
            json=req.json,
            data=req.form,
            headers=world.headers[principal],
        )
        answers[principal] = response.status_code
        TALLY["cells"] += 1
        if response.status_code >= 400:
            if response.headers.get("content-type") != "application/problem+json":
                problems.append(f"{principal}: {response.status_code} is not problem+json")
            elif response.json().get("code") == "route_not_found":
                problems.append(f"{principal}: the request missed the route ({path})")
    wrong = [
        f"  {p:<20} expected {row.expect[p]}, got {answers[p]}"
        for p in PRINCIPALS
        if answers[p] != row.expect[p]
    ]
    TALLY["operations"] += 1
    TALLY["wrong"] += len(wrong) + len(problems)
    assert not wrong and not problems, f"{method} {template} ({operation_id}):\n" + "\n".join(
        wrong + problems
    )
    assert set(answers) == set(SIGNED_IN) | set(BAD_TOKENS)
