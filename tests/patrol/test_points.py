"""A batch judged point by point from its columns: duplicates, conflicts, bad points, retries."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.audit import AuditEntry
from models.patrol import Round, TrackPoint
from services.patrol import points
from services.patrol.points import PointBatch, PointInput
from tests.patrol.world import EAST, build_world, iso, start_round


@pytest.fixture
async def world(client, make_unit, make_user, auth):
    return await build_world(client, make_unit, make_user, auth)


async def post(client, auth, world, round_id, points):
    # json.dumps writes NaN and Infinity as a phone's JSON library may; httpx's json= refuses.
    r = await client.post(
        f"/rounds/{round_id}/points",
        headers={**auth(world.patrol), "Content-Type": "application/json"},
        content=json.dumps({"points": points}),
    )
    assert r.status_code == 200, r.text
    return r.json()


def make_point(at: datetime, **changes):
    return {
        "id": str(uuid.uuid4()),
        "ts": iso(at),
        "lon": 120.865,
        "lat": 32.004,
        "accuracy_m": 5.0,
        "speed_mps": 1.2,
        **changes,
    }


async def test_a_mixed_batch_answers_point_by_point_in_the_order_sent(client, auth, world):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=30))
    at = now - timedelta(minutes=10)
    first = make_point(at)
    twin_bad_first = make_point(at + timedelta(seconds=1), lon=float("nan"))
    outside = make_point(at + timedelta(seconds=2), lon=EAST + 0.002)
    mock = make_point(at + timedelta(seconds=3), is_mock=True)
    batch = [
        twin_bad_first,  # refused for its coordinates; its good twin below is kept
        first,
        dict(first),  # the same point again: a duplicate
        dict(first, lon=120.866),  # the same id with another body: a conflict
        dict(first, accuracy_m=-2.0),  # refused for its measurement, before any id check
        make_point(now + timedelta(minutes=6), lat=95.0),  # coordinates win over the time
        make_point(now + timedelta(minutes=6)),
        dict(twin_bad_first, lon=120.864),
        outside,
        mock,
        dict(first, speed_mps=float("inf")),
    ]
    answer = await post(client, auth, world, rnd["id"], batch)
    assert answer == {
        "accepted": 4,
        "duplicates": 1,
        "rejected": [
            {"id": twin_bad_first["id"], "reason": "invalid_coordinates"},
            {"id": first["id"], "reason": "id_conflict"},
            {"id": first["id"], "reason": "invalid_measurement"},
            {"id": batch[5]["id"], "reason": "invalid_coordinates"},
            {"id": batch[6]["id"], "reason": "in_future"},
            {"id": first["id"], "reason": "invalid_measurement"},
        ],
        # The first point, the bad one's twin; not the one outside, not the mock one.
        "in_zone": 2,
    }
    stored = {str(p.id): p for p in await TrackPoint.filter(round_id=rnd["id"]).order_by("ts")}
    assert list(stored) == [first["id"], twin_bad_first["id"], outside["id"], mock["id"]]
    assert stored[twin_bad_first["id"]].lon == 120.864
    assert [p.in_zone for p in stored.values()] == [True, True, False, True]
    assert stored[mock["id"]].is_mock and stored[first["id"]].accuracy_m == 5.0
    assert stored[first["id"]].ts == at


async def test_a_retried_batch_is_all_duplicates_and_counts_once(client, auth, world):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=30))
    batch = [make_point(now - timedelta(minutes=20) + timedelta(seconds=i)) for i in range(30)]
    first = await post(client, auth, world, rnd["id"], batch)
    assert first == {"accepted": 30, "duplicates": 0, "rejected": [], "in_zone": 30}
    again = await post(client, auth, world, rnd["id"], batch)
    assert again == {"accepted": 0, "duplicates": 30, "rejected": [], "in_zone": 0}
    # A retry with one point changed: the rest are duplicates, the changed one a conflict.
    changed = [*batch[:-1], dict(batch[-1], lat=32.005)]
    answer = await post(client, auth, world, rnd["id"], changed)
    assert answer == {
        "accepted": 0,
        "duplicates": 29,
        "rejected": [{"id": batch[-1]["id"], "reason": "id_conflict"}],
        "in_zone": 0,
    }
    round_ = await Round.get(id=rnd["id"])
    assert round_.points_count == 30 == await TrackPoint.filter(round_id=rnd["id"]).count()
    # One audit entry per batch that stored points.
    entries = await AuditEntry.filter(resource_type="track", resource_id=rnd["id"])
    assert [e.detail for e in entries] == [{"points": 30}]


async def test_concurrent_retries_of_one_batch_store_it_once(client, auth, world):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=30))
    batch = [make_point(now - timedelta(minutes=20) + timedelta(seconds=i)) for i in range(50)]
    answers = await asyncio.gather(*[post(client, auth, world, rnd["id"], batch) for _ in range(3)])
    assert sum(a["accepted"] for a in answers) == 50
    assert sum(a["duplicates"] for a in answers) == 100
    assert all(a["rejected"] == [] for a in answers)
    assert await TrackPoint.filter(round_id=rnd["id"]).count() == 50
    assert (await Round.get(id=rnd["id"])).points_count == 50


async def test_the_round_counts_and_marks_only_the_points_it_kept(client, auth, world):
    now = datetime.now(UTC)
    started_at = now - timedelta(minutes=30)
    rnd = await start_round(client, auth, world, started_at)
    kept_at = now - timedelta(minutes=15)
    batch = [
        make_point(kept_at + timedelta(seconds=5)),
        make_point(kept_at),
        make_point(started_at - timedelta(minutes=6)),  # refused: before the round's start
        make_point(kept_at - timedelta(minutes=1), lon=200.0),  # refused: earlier, but bad
    ]
    answer = await post(client, auth, world, rnd["id"], batch)
    assert answer["accepted"] == 2
    round_ = await Round.get(id=rnd["id"])
    assert round_.points_count == 2
    assert round_.track_dirty_from == kept_at
    assert round_.track_changed_at is not None
    # A later batch leaves the mark where it is; an earlier one moves it back.
    await post(client, auth, world, rnd["id"], [make_point(kept_at + timedelta(minutes=5))])
    assert (await Round.get(id=rnd["id"])).track_dirty_from == kept_at
    late_at = kept_at - timedelta(minutes=10)
    await post(client, auth, world, rnd["id"], [make_point(late_at)])
    round_ = await Round.get(id=rnd["id"])
    assert round_.track_dirty_from == late_at and round_.points_count == 4


async def test_a_bad_time_among_good_points_refuses_the_batch_as_before(client, auth, world):
    # The whole body is PointsBatch's: a malformed time anywhere is a 422 naming the point.
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=30))
    points = [make_point(now - timedelta(minutes=5)) for _ in range(3)]
    points[1]["ts"] = "2026-12-02T08:00:00"
    r = await client.post(
        f"/rounds/{rnd['id']}/points", headers=auth(world.patrol), json={"points": points}
    )
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "invalid_time"
    assert [e["loc"] for e in problem["errors"]] == [["body", "points", 1, "ts"]]
    assert await TrackPoint.filter(round_id=rnd["id"]).count() == 0


async def test_a_point_stored_twice_is_an_integrity_error_on_every_database(client, auth, world):
    # add_points answers a lost race (a concurrent retry stored the batch first) by judging the
    # batch again; that needs the insert's unique violation as Tortoise's IntegrityError, which
    # PostgreSQL's COPY (asyncpg, not Tortoise) raises as its own.
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=30))
    batch = PointBatch.of(
        PointInput(id=uuid.uuid4(), ts=now - timedelta(minutes=5, seconds=i), lon=120.865, lat=32.0)
        for i in range(3)
    )

    async def insert() -> None:
        async with in_transaction() as conn:
            await points._insert_points(
                conn, batch, round_id=uuid.UUID(rnd["id"]), in_zone=[True] * 3, received_at=now
            )

    await insert()
    with pytest.raises(IntegrityError):
        await insert()
    assert await TrackPoint.filter(round_id=rnd["id"]).count() == 3


async def test_an_empty_batch_stores_nothing(client, auth, world):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=30))
    round_ = await Round.get(id=rnd["id"]).select_related("zone")
    result = await points.add_points(round=round_, points=PointBatch.of([]), now=now)
    assert (result.accepted, result.duplicates, result.rejected, result.in_zone) == (0, 0, [], 0)


async def test_bad_values_within_the_rounds_times_are_refused_alone(client, auth, world):
    # Every time inside the round's window: only the flagged points are judged one by one.
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=30))
    at = now - timedelta(minutes=10)
    batch = [make_point(at + timedelta(seconds=i)) for i in range(6)]
    batch[1]["lat"] = float("-inf")
    batch[2]["speed_mps"] = float("nan")
    batch[4]["lon"] = -180.5
    answer = await post(client, auth, world, rnd["id"], batch)
    assert answer == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": [
            {"id": batch[1]["id"], "reason": "invalid_coordinates"},
            {"id": batch[2]["id"], "reason": "invalid_measurement"},
            {"id": batch[4]["id"], "reason": "invalid_coordinates"},
        ],
        "in_zone": 3,
    }
    stored = await TrackPoint.filter(round_id=rnd["id"]).values_list("id", flat=True)
    assert sorted(map(str, stored)) == sorted(batch[i]["id"] for i in (0, 3, 5))
