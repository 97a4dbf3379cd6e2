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
