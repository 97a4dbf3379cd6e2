"""Every operation of the OpenAPI spec, called by every principal, answers what the table says.

The rows are in tests/trust/authz_table.py; an operation without a row fails here, so an endpoint
cannot ship without its authorization written down. One test per operation (all principals
inside it): the database is emptied between tests, and every cell builds its own request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.trust.authz_table import BODY_IDS, ROWS, ROWS_OWED
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
        if row.shows is not None and _is_success(response.status_code):
            target = await row.shows(world)
            if (target in response.text) != (principal in row.seen_by):
                shown = "shows" if target in response.text else "does not show"
                problems.append(f"{principal}: the answer {shown} the target {target}")
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


def test_no_operation_owes_a_row():
    """Every capability's operations have their rows: the list of owed rows stays empty."""
    assert not ROWS_OWED, f"operations still without a row: {sorted(ROWS_OWED)}"


BODY_ID_CASES = [(op, body_id.field) for op, ids in sorted(BODY_IDS.items()) for body_id in ids]


def _comparable(answer: httpx.Response) -> Any:
    """A problem body without what differs per request (its instance, its trace)."""
    body = answer.json()
    return {k: v for k, v in body.items() if k not in {"instance", "trace_id", "request_id"}}


@pytest.mark.parametrize(("operation_id", "field"), BODY_ID_CASES)
async def test_body_ids_answer_as_a_random_id(operation_id: str, field: str, world: World):
    """An id in a body, outside the caller's scope, is refused exactly as a random id: same
    status, same code, same body, so a body reveals no more than a path does."""
    [body_id] = [b for b in BODY_IDS[operation_id] if b.field == field]
    method, template, _ = OPERATIONS[operation_id]
    answers = []
    for target in (await body_id.outside(world), str(uuid.uuid4())):
        req = await ROWS[operation_id].request(world)
        assert isinstance(req.json, dict) and field in req.json, (operation_id, field)
        path = template.format(**{k: str(v) for k, v in req.path.items()})
        answer = await world.client.request(
            method,
            path,
            params=req.query,
            json={**req.json, field: target},
            headers=world.headers[body_id.principal],
        )
        assert answer.status_code == body_id.status, (target, answer.status_code, answer.text)
        assert answer.json()["code"] == body_id.code, answer.text
        answers.append(_comparable(answer))
    assert answers[0] == answers[1]
    # And the row's own body succeeds for the same principal: the refusal is the field's.
    req = await ROWS[operation_id].request(world)
    path = template.format(**{k: str(v) for k, v in req.path.items()})
    ok = await world.client.request(
        method, path, params=req.query, json=req.json, headers=world.headers[body_id.principal]
    )
    assert ok.is_success, ok.text


def test_every_body_id_names_a_field_of_its_operation():
    """A body-id row names an operation of the spec and a field of its request body."""
    for operation_id, ids in BODY_IDS.items():
        assert operation_id in OPERATIONS, operation_id
        schema = OPERATIONS[operation_id][2]["requestBody"]["content"]["application/json"]
        ref = schema["schema"]["$ref"].rsplit("/", 1)[-1]
        from api.app import create_app
        from grassroots.settings import Settings

        spec = create_app(Settings(), manage_db=False).openapi()
        fields = spec["components"]["schemas"][ref]["properties"]
        for body_id in ids:
            assert body_id.field in fields, (operation_id, body_id.field)
