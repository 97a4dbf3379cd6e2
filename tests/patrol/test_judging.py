"""The zone-exit job judges a round incrementally, and its figures equal a full recomputation."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from geo.track import TrackSummary, analyse_track
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


async def full_summary(round: Round) -> analysis.RoundSummary:
    """The summary recomputed from the round's whole stored track at once (`analyse_track`)."""
    zone = await Zone.get(id=round.zone_id)
    checkpoints = (await shifts.zone_checkpoints(zone_ids=[zone.id])).get(zone.id, [])
    rows = await analysis._all_points(round)
    ts, lons, lats, acc, mock = analysis._arrays(rows)
    whole = analyse_track(
        ts=ts,
        lons=lons,
        lats=lats,
        accuracy_m=acc,
        is_mock=mock,
        zone=geometry.zone_shape(zone),
        checkpoints=[(c.id, c.lon, c.lat, c.radius_m) for c in checkpoints],
    )
    g_ts = ts[whole.good]
    track = TrackSummary(
        points=len(rows),
        good_points=int(whole.good.sum()),
        first_good_ts=float(g_ts[0]) if g_ts.size else None,
        last_good_ts=float(g_ts[-1]) if g_ts.size else None,
        distance_m=whole.distance_m,
        in_zone_ratio=whole.in_zone_ratio,
        zone_exits=whole.zone_exits,
        coverage_ratio=whole.coverage_ratio,
        checkpoint_visits=whole.checkpoint_visits,
    )
    return await analysis._summary(round=round, checkpoints=checkpoints, track=track, covered=None)


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
            assert_same(judged, await full_summary(round_))
            exits_seen = max(exits_seen, len(judged.exits))
    round_ = await Round.get(id=rnd["id"])
    judged = await analysis.judged_summary(round=round_, persist=True)
    assert_same(judged, await full_summary(round_))
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
        await full_summary(round_),
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
    assert_same(judged, await full_summary(round_))
    assert any(c.name == "C 岗亭" for c in judged.checkpoints)


async def test_the_job_raises_the_exits_a_full_recomputation_finds(client, auth, world):
    rng = random.Random(3)
    started_at = datetime.now(UTC) - timedelta(hours=2, minutes=50)
    rnd = await start_round(client, auth, world, started_at)
    points = random_points(rng, started_at=started_at, n=400)
    for i in range(0, 400, 100):
        await post(client, auth, world, rnd["id"], points[i : i + 100])
        assert "judged 1 rounds" in await patrol_jobs.zone_exit_job(datetime.now(UTC))
    full = await full_summary(await Round.get(id=rnd["id"]))
    from models.alerts import Alert

    raised = await Alert.filter(kind="zone_exit", subject_id=rnd["id"]).count()
    assert raised >= len(full.exits) > 0
    assert np.isfinite(full.distance_m)


def assert_same_public(body: dict, full: analysis.RoundSummary) -> None:
    """The API's summary (JSON) against a full recomputation."""
    assert body["points"] == full.points and body["good_points"] == full.good_points
    assert math.isclose(body["distance_m"], full.distance_m, rel_tol=1e-9, abs_tol=1e-6)
    assert abs(body["coverage_ratio"] - full.coverage_ratio) < COVERAGE_TOLERANCE
    assert [(_at(e["exited_at"]), _at(e["returned_at"])) for e in body["exits"]] == [
        (e.exited_at, e.returned_at) for e in full.exits
    ]
    assert [_at(c["visited_at"]) for c in body["checkpoints"]] == [
        c.visited_at for c in full.checkpoints
    ]


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@pytest.fixture
def rows_read(monkeypatch) -> list[int]:
    """How many track points each page read returned, while the test runs."""
    pages: list[int] = []
    real = judging.read_points

    async def counting(**kwargs):
        rows = await real(**kwargs)
        pages.append(len(rows))
        return rows

    monkeypatch.setattr(judging, "read_points", counting)
    return pages


@pytest.mark.parametrize("seed", range(4))
async def test_ending_a_round_sums_up_from_its_marks_as_a_full_recomputation(
    client, auth, world, seed, monkeypatch, rows_read
):
    """End and summary judge only what the marks left (late points rewind as the job does),
    and give a full recomputation's figures, on random tracks with late batches."""
    monkeypatch.setattr(judging, "PAGE", 40)  # many pages and marks in a short track
    monkeypatch.setattr(judging, "MARK_EVERY", 80)
    rng = random.Random(100 + seed)
    started_at = datetime.now(UTC) - timedelta(hours=2, minutes=50)
    rnd = await start_round(client, auth, world, started_at)
    points = random_points(rng, started_at=started_at, n=rng.randint(200, 500))
    for batch in batches_with_late_ones(rng, points):
        await post(client, auth, world, rnd["id"], batch)
        if rng.random() < 0.4:  # the job runs now and then
            await patrol_jobs.zone_exit_job(datetime.now(UTC))
    rows_read.clear()
    r = await client.post(
        f"/rounds/{rnd['id']}/end",
        headers=auth(world.patrol),
        json={"ended_at": iso(datetime.now(UTC))},
    )
    assert r.status_code == 200, r.text
    ended = await Round.get(id=rnd["id"])
    full = await full_summary(ended)
    assert_same_public(r.json(), full)
    r = await client.get(f"/rounds/{rnd['id']}", headers=auth(world.supervisor))
    assert r.status_code == 200, r.text
    assert_same_public(r.json(), full)
    # The job settles the ended round; the summary then reads no point again.
    await patrol_jobs.zone_exit_job(datetime.now(UTC) + timedelta(seconds=1))
    rows_read.clear()
    summary = await analysis.round_summary(round=await Round.get(id=rnd["id"]))
    assert sum(rows_read) == 0
    assert_same(summary, full)


async def test_ending_a_round_reads_only_the_points_since_the_last_judged_one(
    client, auth, world, rows_read
):
    rng = random.Random(21)
    started_at = datetime.now(UTC) - timedelta(hours=2, minutes=50)
    rnd = await start_round(client, auth, world, started_at)
    points = random_points(rng, started_at=started_at, n=420, steps_s=(1, 5, 10, 30))
    await post(client, auth, world, rnd["id"], points[:400])
    assert "judged 1 rounds" in await patrol_jobs.zone_exit_job(datetime.now(UTC))
    await post(client, auth, world, rnd["id"], points[400:])
    rows_read.clear()

    r = await client.post(
        f"/rounds/{rnd['id']}/end",
        headers=auth(world.patrol),
        json={"ended_at": iso(datetime.now(UTC))},
    )

    assert r.status_code == 200, r.text
    assert sum(rows_read) == 20  # not the 420 of the whole track
    assert_same_public(r.json(), await full_summary(await Round.get(id=rnd["id"])))
    # Ending wrote no mark: the job alone does (two writers would race for the next one).
    assert await TrackJudgement.filter(round_id=rnd["id"]).count() == 1
