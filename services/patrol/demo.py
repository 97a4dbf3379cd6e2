"""Demo patrol data: three zones in 崇川区 along 濠河, checkpoints, shifts, two finished rounds."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from grassroots import clock
from models.org import Role, User
from models.patrol import Round, Zone, ZoneKind
from services.demo import DemoWorld
from services.patrol import alerting, analysis, points, rounds, shifts, zones

# Hand-drawn outlines (WGS 84) of responsibility zones around the 濠河 ring in 崇川区.
ZONES = [
    (
        "濠河北岸责任区",
        "hepingqiao",
        [
            (120.8585, 32.0168),
            (120.8642, 32.0189),
            (120.8712, 32.0183),
            (120.8745, 32.0150),
            (120.8702, 32.0128),
            (120.8640, 32.0131),
            (120.8592, 32.0139),
            (120.8585, 32.0168),
        ],
    ),
    (
        "南大街—西南营责任区",
        "hepingqiao",
        [
            (120.8575, 32.0062),
            (120.8650, 32.0060),
            (120.8690, 32.0085),
            (120.8681, 32.0126),
            (120.8610, 32.0130),
            (120.8568, 32.0105),
            (120.8575, 32.0062),
        ],
    ),
    (
        "城东文峰塔责任区",
        "chengdong",
        [
            (120.8820, 32.0040),
            (120.8930, 32.0045),
            (120.8960, 32.0110),
            (120.8905, 32.0170),
            (120.8815, 32.0150),
            (120.8820, 32.0040),
        ],
    ),
]

CHECKPOINTS = {
    "濠河北岸责任区": [
        ("和平桥治安岗亭", 120.8662, 32.0165, 30, True),
        ("北濠桥查报站", 120.8610, 32.0150, 40, True),
        ("环西文化广场", 120.8725, 32.0160, 30, False),
    ],
    "南大街—西南营责任区": [("西南营巷口岗亭", 120.8620, 32.0095, 30, True)],
    "城东文峰塔责任区": [("文峰塔治安卡口", 120.8880, 32.0100, 30, True)],
}


def _walk(anchors: list[tuple[float, float]], *, step_m: float) -> list[tuple[float, float]]:
    """Positions every `step_m` meters along a path through the anchors, with a little GPS noise."""
    out: list[tuple[float, float]] = []
    for (lon1, lat1), (lon2, lat2) in zip(anchors, anchors[1:], strict=False):
        dx = (lon2 - lon1) * 111_320 * math.cos(math.radians(lat1))
        dy = (lat2 - lat1) * 110_574
        steps = max(1, int(math.hypot(dx, dy) / step_m))
        for k in range(steps):
            f = k / steps
            wobble = 0.00002 * math.sin(len(out) * 1.7)  # ~2 m, like a phone's fix
            out.append((lon1 + (lon2 - lon1) * f + wobble, lat1 + (lat2 - lat1) * f - wobble))
    return out


async def demo_step(world: DemoWorld) -> None:
    """Zones, checkpoints, shifts, a good round of patrol1 and one of patrol2 that missed a post."""
    admin = User(roles_text=User.encode_roles([Role.admin.value]), org_path="/")
    made: dict[str, Zone] = {}
    for name, unit, ring in ZONES:
        geometry = {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}
        made[name] = await zones.create_zone(
            user=admin,
            name=name,
            kind=ZoneKind.patrol,
            org_unit_id=world.units[unit].id,
            geometry=geometry,
        )
        for cp_name, lon, lat, radius_m, required in CHECKPOINTS[name]:
            await shifts.create_checkpoint(
                zone=made[name],
                name=cp_name,
                lon=lon,
                lat=lat,
                radius_m=radius_m,
                required=required,
            )
    zone = made["濠河北岸责任区"]
    now = clock.now().replace(second=0, microsecond=0)
    shift_start = now - timedelta(hours=2)
    await shifts.create_assignment(
        actor=admin,
        zone=zone,
        user_id=world.users["patrol1"].id,
        starts_at=shift_start,
        ends_at=shift_start + timedelta(hours=8),
    )
    await shifts.create_assignment(
        actor=admin,
        zone=made["城东文峰塔责任区"],
        user_id=world.users["patrol2"].id,
        starts_at=shift_start,
        ends_at=shift_start + timedelta(hours=8),
    )
    # Along the north bank past both required posts, about 1.3 m/s, a point every 10 s.
    path = _walk(
        [
            (120.8600, 32.0145),
            (120.8610, 32.0150),
            (120.8662, 32.0165),
            (120.8700, 32.0160),
            (120.8725, 32.0160),
            (120.8700, 32.0140),
            (120.8640, 32.0140),
            (120.8600, 32.0145),
        ],
        step_m=13,
    )
    await _walk_round(
        member=world.users["patrol1"],
        zone=zone,
        path=path,
        started_at=shift_start + timedelta(minutes=10),
        now=now,
    )
    # patrol2 walks the south of 城东 and never reaches 文峰塔治安卡口 (about 500 m off): the
    # supervisor sees the missed required checkpoint in the round and an alert.
    south_loop = _walk(
        [(120.8840, 32.0060), (120.8910, 32.0062), (120.8925, 32.0085), (120.8840, 32.0060)],
        step_m=13,
    )
    missed_round = await _walk_round(
        member=world.users["patrol2"],
        zone=made["城东文峰塔责任区"],
        path=south_loop,
        started_at=shift_start + timedelta(minutes=30),
        now=now,
    )
    summary = await analysis.round_summary(round=missed_round)
    await alerting.raise_round_alerts(summary=summary, now=now, ended=True)


async def _walk_round(
    *,
    member: User,
    zone: Zone,
    path: list[tuple[float, float]],
    started_at: datetime,
    now: datetime,
) -> Round:
    """A round along `path`, about 1.3 m/s, a point every 10 s, ended 20 s after its last point."""
    round_, _ = await rounds.start_round(
        user=member,
        round_id=uuid.uuid4(),
        zone_id=zone.id,
        started_at=started_at,
        request_hash="demo",
        now=now,
    )
    track = [
        points.PointInput(
            id=uuid.uuid4(),
            ts=started_at + timedelta(seconds=10 * (i + 1)),
            lon=lon,
            lat=lat,
            accuracy_m=6.0 + (i % 5),
            speed_mps=1.3,
        )
        for i, (lon, lat) in enumerate(path)
    ]
    round_ = await Round.get(id=round_.id).select_related("zone")
    await points.add_points(round=round_, points=points.PointBatch.of(track), now=now)
    await rounds.end_round(round=round_, ended_at=track[-1].ts + timedelta(seconds=20), now=now)
    return round_
