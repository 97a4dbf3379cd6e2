"""The zone-exit job judges a round incrementally, and its figures equal a full recomputation."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from models.patrol import Round, TrackJudgement, Zone
from services.patrol import analysis, geometry, judging, shifts
from services.patrol import jobs as patrol_jobs
from tests.patrol.world import EAST, NORTH, SOUTH, WEST, build_world, iso, start_round

# See tests/geo/test_track_incremental.py: split buffers differ from one buffer by chords.
COVERAGE_TOLERANCE = 1e-4


@pytest.fixture
async def world(client, make_unit, make_user, auth):
    return await build_world(client, make_unit, make_user, auth)


STEPS_S = (0, 1, 5, 10, 10, 10, 15, 30, 90)


def random_points(
    rng: random.Random, *, started_at: datetime, n: int, steps_s: tuple[int, ...] = STEPS_S
) -> list[dict]:
    """A walk about the zone that leaves it now and then, with jitter, poor fixes and mocks."""
    lon, lat = (WEST + EAST) / 2, (SOUTH + NORTH) / 2
    heading = rng.uniform(0, 2 * math.pi)
    at = started_at + timedelta(seconds=5)
    points = []
    for _ in range(n):
        step_s = rng.choice(steps_s)
        at += timedelta(seconds=step_s)
        heading += rng.gauss(0, 0.7)
        meters = rng.uniform(0.5, 3.0) * step_s
        lon = min(max(lon + meters * math.cos(heading) / 94_400, WEST - 0.004), EAST + 0.004)
        lat = min(max(lat + meters * math.sin(heading) / 111_000, SOUTH - 0.004), NORTH + 0.004)
        point = {
            "id": str(uuid.uuid4()),
            "ts": iso(at),
            "lon": lon,
            "lat": lat,
            "accuracy_m": rng.choice([None, 5.0, 12.0, 40.0, 80.0, 150.0]),
        }
        if rng.random() < 0.04:  # a GPS jump, 2-4 km off
            point["lon"] = lon + rng.choice([-1, 1]) * rng.uniform(0.02, 0.04)
        if rng.random() < 0.02:
            point["is_mock"] = True
        points.append(point)
    return points


def batches_with_late_ones(rng: random.Random, points: list[dict]) -> list[list[dict]]:
    """Batches in upload order; now and then one is held back and sent after the next ones."""
    batches, held = [], []
    i = 0
    while i < len(points):
        size = rng.randint(1, 80)
        batch = points[i : i + size]
        i += size
        if rng.random() < 0.2:
            held.append(batch)
            continue
        batches.append(batch)
        if held and rng.random() < 0.5:
            batches.append(held.pop(0))
    return batches + held


async def post(client, auth, world, round_id, points):
    r = await client.post(
        f"/rounds/{round_id}/points", headers=auth(world.patrol), json={"points": points}
    )
    assert r.status_code == 200 and r.json()["accepted"] == len(points), r.text


def assert_same(judged: analysis.RoundSummary, full: analysis.RoundSummary) -> None:
    assert judged.points == full.points
    assert judged.good_points == full.good_points
    assert judged.exits == full.exits
    assert judged.checkpoints == full.checkpoints
    assert judged.duration_s == full.duration_s
    assert math.isclose(judged.distance_m, full.distance_m, rel_tol=1e-9, abs_tol=1e-6)
    if full.in_zone_ratio is None:
        assert judged.in_zone_ratio is None
    else:
        assert judged.in_zone_ratio is not None
        assert math.isclose(judged.in_zone_ratio, full.in_zone_ratio, rel_tol=1e-9)
    assert abs(judged.coverage_ratio - full.coverage_ratio) < COVERAGE_TOLERANCE


@pytest.mark.parametrize("seed", range(5))
async def test_judged_batch_by_batch_with_late_ones_equals_a_full_recomputation(
    client, auth, world, seed
):
    rng = random.Random(seed)
    started_at = datetime.now(UTC) - timedelta(hours=2, minutes=50)
    rnd = await start_round(client, auth, world, started_at)
    points = random_points(rng, started_at=started_at, n=rng.randint(150, 500))
    exits_seen = 0
    for batch in batches_with_late_ones(rng, points):
        await post(client, auth, world, rnd["id"], batch)
        if rng.random() < 0.6:  # the job does not run after every batch
            round_ = await Round.get(id=rnd["id"])
            judged = await analysis.judged_summary(round=round_, persist=True)
            assert_same(judged, await analysis.round_summary(round=round_))
            exits_seen = max(exits_seen, len(judged.exits))
    round_ = await Round.get(id=rnd["id"])
    judged = await analysis.judged_summary(round=round_, persist=True)
    assert_same(judged, await analysis.round_summary(round=round_))
    # The random walks do leave the zone: the exits compared are not all empty lists.
    assert exits_seen + len(judged.exits) > 0 or seed > 2


async def judge(round_id: str) -> judging.Judgement:
    round_ = await Round.get(id=round_id)
    zone = await Zone.get(id=round_.zone_id)
    checkpoints = (await shifts.zone_checkpoints(zone_ids=[zone.id])).get(zone.id, [])
    return await judging.judge_track(
        round=round_,
        zone=zone,
        zone_geom=geometry.zone_shape(zone),
        checkpoints=checkpoints,
        persist=True,
    )


async def test_a_run_judges_only_the_new_points_and_a_late_one_only_its_stretch(
    client, auth, world, monkeypatch
):
    monkeypatch.setattr(judging, "PAGE", 25)
    monkeypatch.setattr(judging, "MARK_EVERY", 50)
    rng = random.Random(11)
    # No two points at the same time here: one at the watermark's time would count as late.
    started_at = datetime.now(UTC) - timedelta(hours=2, minutes=50)
    rnd = await start_round(client, auth, world, started_at)
    points = random_points(rng, started_at=started_at, n=500, steps_s=(1, 5, 10, 10, 30, 60))
    late = points.pop(400)
    for i in range(0, 300, 100):
        await post(client, auth, world, rnd["id"], points[i : i + 100])
    first = await judge(rnd["id"])
    assert first.judged == 300 and not first.rewound
    # A mark every 50 points judged in a run.
    assert await TrackJudgement.filter(round_id=rnd["id"]).count() == 6

    await post(client, auth, world, rnd["id"], points[300:330])
    second = await judge(rnd["id"])
    assert second.judged == 30 and not second.rewound
    assert (await judge(rnd["id"])).judged == 0  # nothing new: nothing read

    # A point late by 100 or so points rewinds to the mark before it, not to the start.
    await post(client, auth, world, rnd["id"], points[330:])
    await judge(rnd["id"])
    late_at = datetime.fromisoformat(late["ts"])
    before = sum(1 for p in points if datetime.fromisoformat(p["ts"]) < late_at)
    await post(client, auth, world, rnd["id"], [late])
    rewound = await judge(rnd["id"])
    assert rewound.rewound
    assert 0 < rewound.judged <= len(points) + 1 - before + 50
    assert rewound.judged < len(points) // 2
    round_ = await Round.get(id=rnd["id"])
    assert round_.track_dirty_from is None
    assert_same(
        await analysis.judged_summary(round=round_, persist=False),
        await analysis.round_summary(round=round_),
    )
    # Marks are pruned: a long round keeps a bounded few.
    assert await TrackJudgement.filter(round_id=rnd["id"]).count() <= judging.MARKS_KEPT


async def test_a_reshaped_zone_or_a_new_checkpoint_judges_the_track_afresh(client, auth, world):
    rng = random.Random(5)
    started_at = datetime.now(UTC) - timedelta(hours=2, minutes=50)
    rnd = await start_round(client, auth, world, started_at)
    await post(client, auth, world, rnd["id"], random_points(rng, started_at=started_at, n=300))
    assert (await judge(rnd["id"])).judged == 300
    r = await client.post(
        f"/zones/{world.zone['id']}/checkpoints",
        headers=auth(world.supervisor),
        json={"name": "C 岗亭", "lon": (WEST + EAST) / 2, "lat": (SOUTH + NORTH) / 2},
    )
    assert r.status_code == 201, r.text
    again = await judge(rnd["id"])
    assert again.rewound and again.judged == 300
    round_ = await Round.get(id=rnd["id"])
    judged = await analysis.judged_summary(round=round_, persist=False)
    assert_same(judged, await analysis.round_summary(round=round_))
    assert any(c.name == "C 岗亭" for c in judged.checkpoints)


async def test_the_job_raises_the_exits_a_full_recomputation_finds(client, auth, world):
    rng = random.Random(3)
    started_at = datetime.now(UTC) - timedelta(hours=2, minutes=50)
    rnd = await start_round(client, auth, world, started_at)
    points = random_points(rng, started_at=started_at, n=400)
    for i in range(0, 400, 100):
        await post(client, auth, world, rnd["id"], points[i : i + 100])
        assert "judged 1 rounds" in await patrol_jobs.zone_exit_job(datetime.now(UTC))
    full = await analysis.round_summary(round=await Round.get(id=rnd["id"]))
    from models.alerts import Alert

    raised = await Alert.filter(kind="zone_exit", subject_id=rnd["id"]).count()
    assert raised >= len(full.exits) > 0
    assert np.isfinite(full.distance_m)
