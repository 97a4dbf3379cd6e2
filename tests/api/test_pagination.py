"""Cursor pagination walks every row once, newest first, and honours updated_since."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.org import Role, User


async def test_walks_every_user_exactly_once(client, make_unit, make_user, auth):
    unit = await make_unit()
    admin = await make_user(Role.admin, unit=unit)
    for _ in range(12):
        await make_user(Role.patrol, unit=unit)
    # Same created_at for several rows: the id breaks ties.
    await User.filter(roles_text=",patrol,").update(created_at=datetime(2026, 1, 1, tzinfo=UTC))
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/users", params=params, headers=auth(admin))).json()
        seen += [u["id"] for u in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 13


async def test_updated_since_filters(client, make_unit, make_user, auth):
    unit = await make_unit()
    admin = await make_user(Role.admin, unit=unit)
    old = await make_user(Role.patrol, unit=unit)
    await User.filter(id=old.id).update(updated_at=datetime.now(UTC) - timedelta(days=3))
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = (await client.get("/users", params={"updated_since": since}, headers=auth(admin))).json()
    ids = {u["id"] for u in body["items"]}
    assert str(admin.id) in ids and str(old.id) not in ids


# --- crafted cursors: a 422 problem on every list, never a 500 ---------------------------------

import base64  # noqa: E402
import json  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402


def _unsigned(value: object) -> str:
    """A cursor in the old, unsigned shape: base64url of JSON."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _signed_by(payload: object, key: str, order_field: str = "created_at") -> str:
    from api.pagination import _b64, _mac

    raw = json.dumps(payload).encode()
    return f"{_b64(raw)}.{_b64(_mac(key, order_field, raw))}"


SOME_ID = str(uuid.uuid4())
CRAFTED = {
    "object": _unsigned({"a": 1, "b": SOME_ID}),
    "list of objects": _unsigned([{"$gt": 1}, SOME_ID]),
    "huge integer": _unsigned([10**40, SOME_ID]),
    "id not a string": _unsigned(["2026-01-01T00:00:00+00:00", 12345]),
    "nested lists": _unsigned([[[[]]], [SOME_ID]]),
    "garbage": "@@@!!!",
    "empty parts": ".",
    "bad base64": "a.b.c",
    "valid shape, no signature": _unsigned(["2026-01-01T00:00:00+00:00", SOME_ID]),
}


def _list_operations() -> list[str]:
    """Every list of the spec that takes a cursor and needs no path parameter."""
    from api.app import create_app
    from grassroots.settings import Settings

    spec = create_app(Settings(), manage_db=False).openapi()
    paths = []
    for path, item in spec["paths"].items():
        operation = item.get("get")
        if operation is None or "{" in path:
            continue
        names = {p["name"] for p in operation.get("parameters", [])}
        if "cursor" in names:
            paths.append(path.removeprefix("/api/v1"))
    return sorted(paths)


LISTS = _list_operations()


def test_the_generic_check_reaches_the_lists():
    assert {"/users", "/alerts", "/audit", "/me/notifications", "/org-units"} <= set(LISTS)


@pytest.mark.parametrize("shape", sorted(CRAFTED))
async def test_a_crafted_cursor_is_a_422_on_every_list(client, make_unit, make_user, auth, shape):
    unit = await make_unit()
    # Every role at once, so that no list refuses the caller before it reads the cursor.
    everyone = await make_user(*Role, unit=unit, username="all_roles")
    headers = auth(everyone)
    for path in LISTS:
        r = await client.get(path, params={"cursor": CRAFTED[shape]}, headers=headers)
        assert r.status_code == 422, (path, r.status_code, r.text[:200])
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "invalid_cursor", path


@pytest.mark.parametrize(
    "payload",
    [
        {"a": 1},
        [{"x": 1}, SOME_ID],
        [10**40, SOME_ID],
        ["2026-01-01T00:00:00+00:00", 12345],
        ["2026-01-01T00:00:00", SOME_ID],  # no offset
        ["not a time", SOME_ID],
        ["2026-01-01T00:00:00+00:00", "not-a-uuid"],
        ["2026-01-01T00:00:00+00:00", SOME_ID, "extra"],
    ],
)
async def test_even_a_correctly_signed_cursor_is_checked_for_type(
    client, make_unit, make_user, auth, settings, payload
):
    """Defence in depth: a leaked key still cannot turn a cursor into a 500."""
    admin = await make_user(Role.admin, unit=await make_unit())
    cursor = _signed_by(payload, settings.signing_keys()[0])
    r = await client.get("/users", params={"cursor": cursor}, headers=auth(admin))
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_a_cursor_is_bound_to_its_list_ordering(client, make_unit, make_user, auth, settings):
    admin = await make_user(Role.admin, unit=await make_unit())
    payload = ["2026-01-01T00:00:00+00:00", SOME_ID]
    for_audit = _signed_by(payload, settings.signing_keys()[0], order_field="at")
    assert (
        await client.get("/users", params={"cursor": for_audit}, headers=auth(admin))
    ).status_code == 422
    for_users = _signed_by(payload, settings.signing_keys()[0])
    assert (
        await client.get("/users", params={"cursor": for_users}, headers=auth(admin))
    ).status_code == 200


async def test_cursors_survive_key_rotation(
    client, make_unit, make_user, auth, settings, monkeypatch
):
    from pydantic import SecretStr

    unit = await make_unit()
    admin = await make_user(Role.admin, unit=unit)
    for _ in range(3):
        await make_user(Role.patrol, unit=unit)
    first = (await client.get("/users", params={"limit": 2}, headers=auth(admin))).json()
    old_key = settings.signing_keys()[0]
    monkeypatch.setattr(
        settings, "secret_key", SecretStr("a-rotated-signing-key-0123456789-abcdef")
    )
    monkeypatch.setattr(settings, "previous_secret_keys", old_key)
    headers = auth(admin)
    nxt = await client.get(
        "/users", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    )
    assert nxt.status_code == 200 and len(nxt.json()["items"]) == 2


async def test_a_crafted_cursor_is_a_422_on_a_list_below_an_object(
    client, make_unit, make_user, auth
):
    """Lists under an id (a client's visits) read the cursor through the same module."""
    from models.social import Client, ClientCategory, RiskLevel

    unit = await make_unit()
    admin = await make_user(Role.admin, unit=unit)
    case = await Client.create(
        full_name="分页对象",
        category=ClientCategory.at_risk_youth,
        address="崇川区",
        risk_level=RiskLevel.low,
        org_unit=unit,
        org_path=unit.path,
    )
    for shape in ("list of objects", "huge integer", "id not a string"):
        r = await client.get(
            f"/clients/{case.id}/visits", params={"cursor": CRAFTED[shape]}, headers=auth(admin)
        )
        assert r.status_code == 422 and r.json()["code"] == "invalid_cursor", shape
