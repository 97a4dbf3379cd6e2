"""Patrol rounds through the API: a realistic track, replays, late points, rejections, scope."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from models.alerts import Alert
from models.audit import AuditEntry
from models.patrol import Round, TrackPoint
from services.patrol import analysis
from services.patrol import jobs as patrol_jobs
from tests.patrol.world import (
    build_world,
    iso,
    make_track,
    reference,
    start_round,
)


@pytest.fixture
async def world(client, make_unit, make_user, auth):
    return await build_world(client, make_unit, make_user, auth)


async def post_points(client, auth, member, round_id, points):
    r = await client.post(
        f"/rounds/{round_id}/points", headers=auth(member), json={"points": points}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_realistic_round_matches_an_independent_computation(client, auth, world):
    started_at = datetime.now(UTC) - timedelta(minutes=40)
    rnd = await start_round(client, auth, world, started_at)
    track = make_track(started_at)
    shuffled = track.points[:]
    random.Random(7).shuffle(shuffled)  # phones upload late and out of order
    totals = {"accepted": 0, "in_zone": 0}
    for start in range(0, len(shuffled), 50):
        answer = await post_points(
            client, auth, world.patrol, rnd["id"], shuffled[start : start + 50]
        )
        assert answer["rejected"] == [] and answer["duplicates"] == 0
        totals["accepted"] += answer["accepted"]
        totals["in_zone"] += answer["in_zone"]
    assert totals["accepted"] == 181
    # Inside on arrival: all but the 10 excursion points, the jump and the mock.
    assert totals["in_zone"] == 181 - 10 - 1 - 1

    ref = reference(
        track,
        {
            "A": (world.checkpoint_a["lon"], world.checkpoint_a["lat"], 30.0),
            "B": (world.checkpoint_b["lon"], world.checkpoint_b["lat"], 30.0),
        },
    )
    assert ref["visits"]["A"] is not None and ref["visits"]["B"] is None
    assert ref["zone_exits"] == 1

    r = await client.get(f"/rounds/{rnd['id']}", headers=auth(world.patrol))
    assert r.status_code == 200
    summary = r.json()
    assert summary["distance_m"] == pytest.approx(ref["distance_m"], rel=1e-6)
    assert summary["in_zone_ratio"] == pytest.approx(ref["in_zone_ratio"], rel=1e-9)
    assert summary["zone_exits"] == 1
    assert summary["exits"][0]["returned_at"] is not None
    assert summary["coverage_ratio"] == pytest.approx(ref["coverage_ratio"], rel=0.005)
    assert summary["points"] == 181 and summary["good_points"] == 178
    visited = {c["name"]: c["visited_at"] for c in summary["checkpoints"]}
    assert visited["A 岗亭"] == ref["visits"]["A"]
    assert visited["B 查报站"] is None  # the mock point sat on B: it never counts
    assert summary["missed_checkpoints"] == 1

    # Replaying every batch changes nothing.
    for start in range(0, len(shuffled), 50):
        answer = await post_points(
            client, auth, world.patrol, rnd["id"], shuffled[start : start + 50]
        )
        assert answer == {
            "accepted": 0,
            "duplicates": len(shuffled[start : start + 50]),
            "rejected": [],
            "in_zone": 0,
        }
    assert await TrackPoint.filter(round_id=rnd["id"]).count() == 181
    again = (await client.get(f"/rounds/{rnd['id']}", headers=auth(world.patrol))).json()
    assert again == summary

    # Ending raises one zone-exit and one missed-checkpoint alert, to the member's supervisor.
    ended_at = started_at + timedelta(minutes=31)
    r = await client.post(
        f"/rounds/{rnd['id']}/end", headers=auth(world.patrol), json={"ended_at": iso(ended_at)}
    )
    assert r.status_code == 200, r.text
    ended = r.json()
    assert ended["status"] == "ended" and ended["duration_s"] == 31 * 60
    kinds = sorted(a.kind for a in await Alert.all())
    assert kinds == ["missed_checkpoint", "zone_exit"]
    r = await client.post(
        f"/rounds/{rnd['id']}/end", headers=auth(world.patrol), json={"ended_at": iso(ended_at)}
    )
    assert r.status_code == 200 and r.json() == ended
    assert await Alert.all().count() == 2
    r = await client.post(
        f"/rounds/{rnd['id']}/end",
        headers=auth(world.patrol),
        json={"ended_at": iso(ended_at + timedelta(minutes=1))},
    )
    assert r.status_code == 409 and r.json()["code"] == "round_already_ended"

    # The exit job judges the same track again and raises nothing new.
    assert "raised 0" in await patrol_jobs.zone_exit_job(datetime.now(UTC) + timedelta(seconds=1))
    assert await Alert.all().count() == 2

    # The supervisor sees it; the track is a LineString in time order, and reading it is audited.
    r = await client.get(f"/rounds/{rnd['id']}/track", headers=auth(world.supervisor))
    assert r.status_code == 200
    feature = r.json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    assert feature["properties"]["times"] == [p["ts"] for p in track.points]
    assert feature["properties"]["flags"][track.jump] == "jitter"
    assert feature["properties"]["flags"][track.poor] == "poor_accuracy"
    assert feature["properties"]["flags"][track.mock] == "mock"
    assert await AuditEntry.filter(
        action="read", resource_type="track", resource_id=rnd["id"], user_id=world.supervisor.id
    ).exists()


async def test_late_points_change_the_summary(client, auth, world):
    started_at = datetime.now(UTC) - timedelta(minutes=40)
    rnd = await start_round(client, auth, world, started_at)
    track = make_track(started_at)
    late = set(track.excursion)
    await post_points(
        client,
        auth,
        world.patrol,
        rnd["id"],
        [p for i, p in enumerate(track.points) if i not in late],
    )
    before = (await client.get(f"/rounds/{rnd['id']}", headers=auth(world.patrol))).json()
    assert before["zone_exits"] == 0
    await post_points(client, auth, world.patrol, rnd["id"], [track.points[i] for i in late])
    after = (await client.get(f"/rounds/{rnd['id']}", headers=auth(world.patrol))).json()
    assert after["zone_exits"] == 1
    assert after["distance_m"] > before["distance_m"]
    assert after["in_zone_ratio"] < before["in_zone_ratio"]
    # The worker alerts the exit once, however often it runs.
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert "raised 1" in await patrol_jobs.zone_exit_job(now)
    assert "judged 0" in await patrol_jobs.zone_exit_job(now + timedelta(seconds=30))
    alert = await Alert.get(kind="zone_exit")
    recipients = await alert.recipients.all().values_list("user_id", flat=True)
    assert recipients == [world.supervisor.id]


async def test_bad_points_are_rejected_one_by_one(client, auth, world):
    now = datetime.now(UTC)
    started_at = now - timedelta(minutes=20)
    rnd = await start_round(client, auth, world, started_at)

    def point(**kw):
        base = {
            "id": str(uuid.uuid4()),
            "ts": iso(now - timedelta(minutes=5)),
            "lon": 120.865,
            "lat": 32.004,
            "accuracy_m": 5.0,
        }
        base.update(kw)
        return base

    good = point()
    bad = {
        "invalid_coordinates": point(lon=181.0),
        "in_future": point(ts=iso(now + timedelta(minutes=6))),
        "before_round_start": point(ts=iso(started_at - timedelta(minutes=6))),
        "invalid_measurement": point(accuracy_m=-1.0),
    }
    outside_lat = point(lat=-91.0)
    answer = await post_points(
        client, auth, world.patrol, rnd["id"], [good, *bad.values(), outside_lat]
    )
    assert answer["accepted"] == 1 and answer["in_zone"] == 1
    reasons = {r["id"]: r["reason"] for r in answer["rejected"]}
    assert reasons == {
        **{p["id"]: reason for reason, p in bad.items()},
        outside_lat["id"]: "invalid_coordinates",
    }
    assert await TrackPoint.filter(round_id=rnd["id"]).count() == 1

    # The same id with another body is refused, not overwritten.
    answer = await post_points(client, auth, world.patrol, rnd["id"], [dict(good, lon=120.866)])
    assert answer["rejected"] == [{"id": good["id"], "reason": "id_conflict"}]

    # After the end, points later than end + 5 min are refused.
    ended_at = now - timedelta(minutes=10)
    r = await client.post(
        f"/rounds/{rnd['id']}/end", headers=auth(world.patrol), json={"ended_at": iso(ended_at)}
    )
    assert r.status_code == 200
    answer = await post_points(
        client, auth, world.patrol, rnd["id"], [point(ts=iso(now - timedelta(minutes=2)))]
    )
    assert answer["rejected"][0]["reason"] == "after_round_end"
    late_but_in = point(ts=iso(ended_at - timedelta(minutes=1)))
    answer = await post_points(client, auth, world.patrol, rnd["id"], [late_but_in])
    assert answer["accepted"] == 1


async def test_batch_bounds(client, auth, world):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=20))
    points = [
        {
            "id": str(uuid.uuid4()),
            "ts": iso(now - timedelta(seconds=i)),
            "lon": 120.865,
            "lat": 32.004,
        }
        for i in range(1001)
    ]
    r = await client.post(
        f"/rounds/{rnd['id']}/points", headers=auth(world.patrol), json={"points": points}
    )
    assert r.status_code == 413 and r.json()["code"] == "batch_too_large"
    r = await client.post(
        f"/rounds/{rnd['id']}/points", headers=auth(world.patrol), json={"points": []}
    )
    assert r.status_code == 422
    r = await client.post(
        f"/rounds/{rnd['id']}/points",
        headers=auth(world.patrol),
        json={"points": [{**points[0], "ts": "2026-01-01T10:00:00"}]},
    )
    assert r.status_code == 422  # a naive time is malformed input
    assert await TrackPoint.all().count() == 0
    r = await client.post(
        f"/rounds/{rnd['id']}/points", headers=auth(world.patrol), json={"points": points[:1000]}
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1000


async def test_rounds_are_scoped_to_their_member(client, auth, world, make_user):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=20))
    point = {"id": str(uuid.uuid4()), "ts": iso(now), "lon": 120.865, "lat": 32.004}
    # Another patrol member: 404 on everything of this round.
    other = auth(world.other_patrol)
    assert (await client.get(f"/rounds/{rnd['id']}", headers=other)).status_code == 404
    assert (await client.get(f"/rounds/{rnd['id']}/track", headers=other)).status_code == 404
    r = await client.post(f"/rounds/{rnd['id']}/points", headers=other, json={"points": [point]})
    assert r.status_code == 404
    r = await client.post(f"/rounds/{rnd['id']}/end", headers=other, json={"ended_at": iso(now)})
    assert r.status_code == 404
    # A supervisor reads it but may not write points (403: not a patrol role).
    sup = auth(world.supervisor)
    assert (await client.get(f"/rounds/{rnd['id']}", headers=sup)).status_code == 200
    r = await client.post(f"/rounds/{rnd['id']}/points", headers=sup, json={"points": [point]})
    assert r.status_code == 403
    # A supervisor of another street does not see it.
    far = await make_user("supervisor", unit=world.other)
    assert (await client.get(f"/rounds/{rnd['id']}", headers=auth(far))).status_code == 404
    # Listing: the member sees theirs, the other member none.
    r = await client.get("/rounds", headers=auth(world.patrol))
    assert [x["id"] for x in r.json()["items"]] == [rnd["id"]]
    r = await client.get("/rounds", headers=other)
    assert r.json()["items"] == []
    r = await client.get(
        "/rounds",
        headers=sup,
        params={"user_id": str(world.patrol.id), "zone_id": world.zone["id"]},
    )
    assert [x["id"] for x in r.json()["items"]] == [rnd["id"]]
    assert await TrackPoint.all().count() == 0


async def test_starting_rounds(client, auth, world, make_user):
    now = datetime.now(UTC)
    body = {"id": str(uuid.uuid4()), "zone_id": world.zone["id"], "started_at": iso(now)}
    h = auth(world.patrol)
    r = await client.post("/rounds", headers=h, json=body)
    assert r.status_code == 201 and r.json()["status"] == "active"
    r = await client.post("/rounds", headers=h, json=body)
    assert r.status_code == 200 and r.json()["id"] == body["id"]
    r = await client.post(
        "/rounds", headers=h, json={**body, "started_at": iso(now - timedelta(minutes=1))}
    )
    assert r.status_code == 409 and r.json()["code"] == "id_conflict"
    # The same id from another member is a conflict too, never a shared round.
    r = await client.post("/rounds", headers=auth(world.other_patrol), json=body)
    assert r.status_code == 409
    # Outside any shift: 422; a zone never assigned: 404; not a patrol member: 403.
    r = await client.post(
        "/rounds",
        headers=h,
        json={**body, "id": str(uuid.uuid4()), "started_at": iso(now - timedelta(hours=5))},
    )
    assert r.status_code == 422 and r.json()["code"] == "not_assigned"
    stranger = await make_user("patrol", unit=world.street)
    r = await client.post("/rounds", headers=auth(stranger), json={**body, "id": str(uuid.uuid4())})
    assert r.status_code == 404
    r = await client.post(
        "/rounds", headers=auth(world.supervisor), json={**body, "id": str(uuid.uuid4())}
    )
    assert r.status_code == 403


async def test_checkpoint_visits_by_gps_and_code(client, auth, world):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=20))
    h = auth(world.patrol)
    codes = {
        c["name"]: c["code"]
        for c in (
            await client.get(
                f"/zones/{world.zone['id']}/checkpoints", headers=auth(world.supervisor)
            )
        ).json()
    }
    assert all(codes.values())
    # The member's own view has no codes.
    mine = (await client.get(f"/zones/{world.zone['id']}/checkpoints", headers=h)).json()
    assert all(c["code"] is None for c in mine)

    def visit(**kw):
        body = {
            "id": str(uuid.uuid4()),
            "checkpoint_id": world.checkpoint_b["id"],
            "ts": iso(now - timedelta(minutes=1)),
            "lon": world.checkpoint_b["lon"],
            "lat": world.checkpoint_b["lat"],
            "method": "gps",
        }
        body.update(kw)
        return body

    far = visit(lon=world.checkpoint_b["lon"] + 0.0008, accuracy_m=10)  # ~75 m east
    r = await client.post(f"/rounds/{rnd['id']}/checkpoint-visits", headers=h, json=far)
    assert r.status_code == 201 and r.json()["accepted"] is False
    assert r.json()["distance_m"] == pytest.approx(75.5, abs=1.0)
    # Within radius + min(accuracy, 50): 30 + 50 = 80 m.
    r = await client.post(
        f"/rounds/{rnd['id']}/checkpoint-visits",
        headers=h,
        json=visit(lon=world.checkpoint_b["lon"] + 0.0008, accuracy_m=500),
    )
    assert r.json()["accepted"] is True
    r = await client.post(
        f"/rounds/{rnd['id']}/checkpoint-visits", headers=h, json=visit(is_mock=True)
    )
    assert r.json()["accepted"] is False
    wrong = visit(method="qr", code="not-the-code", lon=120.9, lat=32.1)
    r = await client.post(f"/rounds/{rnd['id']}/checkpoint-visits", headers=h, json=wrong)
    assert r.json()["accepted"] is False
    right = visit(method="nfc", code=codes["B 查报站"], lon=120.9, lat=32.1)
    r = await client.post(f"/rounds/{rnd['id']}/checkpoint-visits", headers=h, json=right)
    assert r.status_code == 201 and r.json()["accepted"] is True
    r = await client.post(f"/rounds/{rnd['id']}/checkpoint-visits", headers=h, json=right)
    assert r.status_code == 200
    r = await client.post(
        f"/rounds/{rnd['id']}/checkpoint-visits", headers=h, json={**right, "code": "changed"}
    )
    assert r.status_code == 409
    summary = (await client.get(f"/rounds/{rnd['id']}", headers=h)).json()
    visited = {c["name"]: c["visited_at"] for c in summary["checkpoints"]}
    assert visited["B 查报站"] == right["ts"]
    # A checkpoint of another zone, and a time outside the round, are 422.
    r = await client.post(
        f"/rounds/{rnd['id']}/checkpoint-visits",
        headers=h,
        json=visit(checkpoint_id=str(uuid.uuid4())),
    )
    assert r.status_code == 422 and r.json()["code"] == "checkpoint_not_in_zone"
    r = await client.post(
        f"/rounds/{rnd['id']}/checkpoint-visits",
        headers=h,
        json=visit(ts=iso(now - timedelta(hours=1))),
    )
    assert r.status_code == 422 and r.json()["code"] == "time_outside_round"


async def test_incidents_are_idempotent(client, auth, world):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=20))
    body = {
        "id": str(uuid.uuid4()),
        "ts": iso(now),
        "lon": 120.865,
        "lat": 32.004,
        "category": "可疑人员",
        "description": "濠河边有人撬电动车锁",
    }
    h = auth(world.patrol)
    r = await client.post(f"/rounds/{rnd['id']}/incidents", headers=h, json=body)
    assert r.status_code == 201 and r.json()["description"] == body["description"]
    r = await client.post(f"/rounds/{rnd['id']}/incidents", headers=h, json=body)
    assert r.status_code == 200
    r = await client.post(
        f"/rounds/{rnd['id']}/incidents", headers=h, json={**body, "category": "火情"}
    )
    assert r.status_code == 409
    r = await client.post(
        f"/rounds/{rnd['id']}/incidents", headers=auth(world.other_patrol), json=body
    )
    assert r.status_code == 404


async def test_the_zone_exit_job_settles_each_round_on_its_own(client, auth, world, monkeypatch):
    """One round that fails to be judged keeps neither the others' results nor their locks."""
    started_at = datetime.now(UTC) - timedelta(minutes=40)
    rounds = []
    for _ in range(3):
        rnd = await start_round(client, auth, world, started_at)
        await post_points(client, auth, world.patrol, rnd["id"], make_track(started_at).points)
        rounds.append(rnd["id"])
    real = analysis.judged_summary
    broken = rounds[1]

    async def failing_for_one(*, round, persist):
        if str(round.id) == broken:
            raise RuntimeError("judging failed")
        return await real(round=round, persist=persist)

    monkeypatch.setattr(analysis, "judged_summary", failing_for_one)
    now = datetime.now(UTC) + timedelta(seconds=1)
    summary = await patrol_jobs.zone_exit_job(now)
    assert "judged 2 rounds" in summary and "1 failed" in summary
    judged = {str(r.id): r.analysed_at for r in await Round.filter(id__in=rounds)}
    assert judged[broken] is None
    assert all(judged[r] is not None for r in rounds if r != broken)
    monkeypatch.setattr(analysis, "judged_summary", real)
    assert "judged 1 rounds" in await patrol_jobs.zone_exit_job(now + timedelta(seconds=30))
    # And the worker runs it outside one transaction of its own (see the job's docstring).
    from services.jobs import REGISTRY

    assert REGISTRY["patrol.zone_exits"].transactional is False


async def test_a_point_older_than_the_retention_period_is_rejected_alone(client, auth, world):
    # A round left open for longer than the retention period (a phone that never ended it): its
    # oldest points would be removed at once, and on PostgreSQL their day's partition is gone, so
    # the database would refuse the whole batch. They are rejected one by one instead.
    from grassroots.settings import get_settings

    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=20))
    long_ago = now - timedelta(days=get_settings().retention_days + 10)
    await Round.filter(id=rnd["id"]).update(started_at=long_ago - timedelta(hours=1))
    old = {"id": str(uuid.uuid4()), "ts": iso(long_ago), "lon": 120.865, "lat": 32.004}
    fresh = {
        "id": str(uuid.uuid4()),
        "ts": iso(now - timedelta(minutes=1)),
        "lon": 120.865,
        "lat": 32.004,
    }
    answer = await post_points(client, auth, world.patrol, rnd["id"], [old, fresh])
    assert answer["rejected"] == [{"id": old["id"], "reason": "past_retention"}]
    assert answer["accepted"] == 1
    assert await TrackPoint.filter(round_id=rnd["id"]).count() == 1
