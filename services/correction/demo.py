"""Demo data for community correction: subjects at each level with a month of check-ins.

subject1 (strict) lives in 濠西社区 and has one check-in outside the permitted area without leave
(a violation and its alert); subject2 (normal) in 城东社区 went to Shanghai on approved leave; a
third subject (lenient) is added under 黄泥山社区. The previous local month is filled in.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from geo.measure import area_m2
from geo.validation import parse_area
from grassroots import clock
from models.correction import CheckInKind, Level, Supervision
from models.org import OrgUnit, Role, User
from models.patrol import Zone
from models.social import Client, ClientCategory
from services import org
from services.correction import access, checkins, leave, supervisions
from services.demo import DemoWorld

log = logging.getLogger("grassroots.demo")


def _square(lon: float, lat: float, half_deg: float) -> dict[str, Any]:
    ring = [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
        [lon - half_deg, lat + half_deg],
        [lon - half_deg, lat - half_deg],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


async def _permitted_area(*, name: str, unit: OrgUnit, lon: float, lat: float) -> uuid.UUID:
    """A permitted-area zone around a point."""
    geometry = _square(lon, lat, 0.03)
    zone = await Zone.create(
        name=name,
        kind="permitted_area",
        org_unit=unit,
        org_path=unit.path,
        geometry=geometry,
        area_m2=area_m2(geom=parse_area(geojson=geometry)),
    )
    return zone.id


async def demo_step(world: DemoWorld) -> None:
    """Three supervisions with last month's check-ins, a violation and an approved leave."""
    tz = world.settings.tz
    now = clock.now()
    today = now.astimezone(tz).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    starts_on = (last_month - timedelta(days=1)).replace(day=1)
    officer = world.users["officer"]
    subject3 = await org.create_user(
        actor=None,
        username="subject3",
        password="demo-" + uuid.uuid4().hex[:10],
        full_name="孙某",
        phone=None,
        roles=[Role.subject.value],
        org_unit_id=world.units["hepingqiao_a"].id,
        settings=world.settings,
    )
    plan = [
        ("subject1", world.users["subject1"], Level.strict, "hepingqiao_a", (120.87, 32.02)),
        ("subject2", world.users["subject2"], Level.normal, "chengdong_a", (120.90, 32.00)),
        ("subject3", subject3, Level.lenient, "hepingqiao_a", (120.87, 32.02)),
    ]
    rng = random.Random(7)
    # The social-work demo (run first) registered the community-correction clients.
    client_ids: list[uuid.UUID] = [
        uuid.UUID(str(i))
        for i in await Client.filter(category=ClientCategory.community_correction)
        .order_by("created_at")
        .values_list("id", flat=True)
    ]
    for index, (username, subject, level, unit_key, (lon, lat)) in enumerate(plan):
        unit = world.units[unit_key]
        zone_id = await _permitted_area(name=f"{unit.name}活动范围", unit=unit, lon=lon, lat=lat)
        admin = User(roles_text=User.encode_roles([Role.admin.value]), org_path="/")
        supervision = await supervisions.create_supervision(
            actor=admin,
            client_id=client_ids[index] if index < len(client_ids) else uuid.uuid4(),
            subject_user_id=subject.id,
            officer_id=officer.id
            if access.officer_covers(officer=officer, subject=subject)
            else (await _officer_for(world)).id,
            permitted_zone_id=zone_id,
            level=level,
            starts_on=starts_on,
            ends_on=date(today.year + 2, 12, 31),
            now=now,
        )
        await _fill_month(
            world=world,
            supervision=supervision,
            subject=subject,
            month=last_month,
            lon=lon,
            lat=lat,
            rng=rng,
            username=username,
        )


async def _officer_for(world: DemoWorld) -> User:
    """An officer whose office covers the subject (城东 has none in the base set: add one)."""
    key = "officer_cd"
    if key not in world.users:
        world.users[key] = await org.create_user(
            actor=None,
            username=key,
            password="demo-" + uuid.uuid4().hex[:10],
            full_name="周平",
            phone=None,
            roles=[Role.officer.value],
            org_unit_id=world.units["chengdong"].id,
            settings=world.settings,
        )
    return world.users[key]


async def _fill_month(
    *,
    world: DemoWorld,
    supervision: Supervision,
    subject: User,
    month: date,
    lon: float,
    lat: float,
    rng: random.Random,
    username: str,
) -> None:
    """A month of check-ins: almost every location check-in, reports, service and study."""
    tz = world.settings.tz
    officer = await User.get(id=supervision.officer_id)  # type: ignore[attr-defined]
    days = [
        month + timedelta(days=i)
        for i in range(31)
        if (month + timedelta(days=i)).month == month.month
    ]
    leave_days: set[date] = set()
    if username == "subject2":
        leave_start = datetime.combine(days[9], time(8), tzinfo=tz)
        leave_end = datetime.combine(days[11], time(20), tzinfo=tz)
        request, _ = await leave.request_leave(
            user=subject,
            leave_id=uuid.uuid4(),
            starts_at=leave_start,
            ends_at=leave_end,
            destination="上海市",
            reason="探亲",
            request_hash=uuid.uuid4().hex,
            now=leave_start - timedelta(days=3),
        )
        await leave.decide_leave(
            user=officer,
            leave=request,
            approved=True,
            note="同意，按时返回",
            now=leave_start - timedelta(days=2),
        )
        leave_days = {days[9], days[10], days[11]}

    async def checkin(at: datetime, kind: CheckInKind, **kw: Any) -> None:
        await checkins.record_checkin(
            user=subject,
            checkin_id=uuid.uuid4(),
            kind=kind,
            occurred_at=at,
            lon=kw.get("lon"),
            lat=kw.get("lat"),
            accuracy_m=kw.get("accuracy_m"),
            hours=kw.get("hours"),
            text=kw.get("text"),
            request_hash=uuid.uuid4().hex,
            now=at + timedelta(minutes=1),
        )

    for index, day in enumerate(days):
        if username != "subject1" and index % 3:
            continue  # weekly and fortnightly subjects check in less often
        if username == "subject1" and index == 17:
            continue  # one missed day
        at = datetime.combine(day, time(9, rng.randint(0, 59)), tzinfo=tz)
        if day in leave_days:
            await checkin(at, CheckInKind.location, lon=121.47, lat=31.23, accuracy_m=20.0)
        elif username == "subject1" and index == 20:
            await checkin(at, CheckInKind.location, lon=lon + 0.08, lat=lat, accuracy_m=15.0)
        else:
            await checkin(
                at,
                CheckInKind.location,
                lon=lon + rng.uniform(-0.01, 0.01),
                lat=lat + rng.uniform(-0.01, 0.01),
                accuracy_m=rng.uniform(5, 30),
            )
    noon = time(12)
    await checkin(
        datetime.combine(days[4], noon, tzinfo=tz),
        CheckInKind.thought_report,
        text="本月遵守规定，按时报到，积极参加公益活动。",
    )
    hours = 4.0 if username == "subject3" else 8.0
    await checkin(
        datetime.combine(days[6], noon, tzinfo=tz), CheckInKind.service_hours, hours=hours
    )
    await checkin(datetime.combine(days[13], noon, tzinfo=tz), CheckInKind.study, hours=hours)
    for day in (days[2], days[16]):
        await checkins.record_officer_checkin(
            user=officer,
            supervision=supervision,
            checkin_id=uuid.uuid4(),
            kind=CheckInKind.report,
            occurred_at=datetime.combine(day, time(10), tzinfo=tz),
            lon=None,
            lat=None,
            accuracy_m=None,
            text="到司法所报到",
            request_hash=uuid.uuid4().hex,
            now=datetime.combine(day, time(11), tzinfo=tz),
        )
    await checkins.record_officer_checkin(
        user=officer,
        supervision=supervision,
        checkin_id=uuid.uuid4(),
        kind=CheckInKind.home_visit,
        occurred_at=datetime.combine(days[22], time(15), tzinfo=tz),
        lon=None,
        lat=None,
        accuracy_m=None,
        text="家访，家庭情况稳定",
        request_hash=uuid.uuid4().hex,
        now=datetime.combine(days[22], time(16), tzinfo=tz),
    )
