"""Demo data for social work: a team in 和平桥街道 with a caseload, visits and six-ones history.

Names are pseudonyms (张某某) and identity numbers are made up here, valid only by their checksum.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from grassroots import clock
from grassroots.settings import Settings
from models.org import Role, User
from models.social import CareRole, Client, ClientCategory, CloseReason, RiskLevel, VisitKind
from services import org
from services.demo import DemoWorld
from services.idempotency import fingerprint
from services.identity import check_character
from services.social import (
    access,
    cadence,
    care_groups,
    caseloads,
    clients,
    closing,
    sixones,
    visits,
)
from services.social.sixones_rules import KIND_NAMES_ZH, TaskKind

# A street corner near 和平桥 in 崇川区, Nantong; homes are scattered around it.
CENTRE_LON, CENTRE_LAT = 120.8655, 32.0105

# (pseudonym, category, risk, birth date, worker, street address, offset east/north in 1e-3 degrees)
CLIENTS: list[tuple[str, ClientCategory, RiskLevel, str, str, str, tuple[float, float]]] = [
    (
        "张某某",
        ClientCategory.community_correction,
        RiskLevel.high,
        "19850412",
        "worker1",
        "崇川区和平桥街道濠西路 12 号 3 室",
        (1.2, 0.8),
    ),
    (
        "李某某",
        ClientCategory.community_correction,
        RiskLevel.medium,
        "19780923",
        "worker1",
        "崇川区和平桥街道人民中路 88 号 2 幢 501",
        (-2.1, 1.5),
    ),
    (
        "王某某",
        ClientCategory.community_correction,
        RiskLevel.low,
        "19920105",
        "worker2",
        "崇川区和平桥街道桃坞路 27 号",
        (0.4, -1.9),
    ),
    (
        "赵某某",
        ClientCategory.released_prisoner,
        RiskLevel.high,
        "19800730",
        "worker1",
        "崇川区和平桥街道环城南路 6 号 1 幢 203",
        (3.0, -0.6),
    ),
    (
        "刘某某",
        ClientCategory.released_prisoner,
        RiskLevel.medium,
        "19750218",
        "worker2",
        "崇川区和平桥街道西南营 15 号",
        (-0.9, -2.7),
    ),
    (
        "陈某某",
        ClientCategory.released_prisoner,
        RiskLevel.low,
        "19690611",
        "worker2",
        "崇川区和平桥街道濠南路 41 号",
        (2.2, 2.4),
    ),
    (
        "杨某某",
        ClientCategory.drug_rehab,
        RiskLevel.high,
        "19881101",
        "worker1",
        "崇川区和平桥街道北濠桥路 9 号 4 幢 102",
        (-1.7, -0.4),
    ),
    (
        "黄某某",
        ClientCategory.drug_rehab,
        RiskLevel.medium,
        "19910327",
        "worker1",
        "崇川区和平桥街道文峰路 3 号",
        (0.9, 3.1),
    ),
    (
        "周某某",
        ClientCategory.drug_rehab,
        RiskLevel.medium,
        "19830814",
        "worker2",
        "崇川区和平桥街道青年中路 120 号",
        (-3.2, 0.2),
    ),
    (
        "吴某某",
        ClientCategory.at_risk_youth,
        RiskLevel.medium,
        "20080509",
        "worker1",
        "崇川区和平桥街道濠西社区 7 幢 301",
        (0.2, 0.5),
    ),
    (
        "徐某某",
        ClientCategory.at_risk_youth,
        RiskLevel.low,
        "20070916",
        "worker2",
        "崇川区和平桥街道工农路 52 号",
        (1.6, -2.2),
    ),
    (
        "孙某某",
        ClientCategory.at_risk_youth,
        RiskLevel.high,
        "20090120",
        "worker1",
        "崇川区和平桥街道和平桥路 18 号",
        (-0.5, 1.9),
    ),
]

VISIT_NOTES = [
    "入户走访，家属在场，情绪稳定，近期在找工作。",
    "到社工站面谈，了解就业意向，推荐技能培训。",
    "电话回访，本人表示按时参加社区活动。",
    "入户走访，居住情况未变，提醒按期报到。",
    "与社区网格员一起走访，家庭关系有所改善。",
]


def demo_id_number(born: str, serial: int) -> str:
    """A made-up identity number of 崇川区 (320602) that passes the checksum."""
    first = f"320602{born}{serial:03d}"
    return first + check_character(first)


def _admin() -> User:
    return User(roles_text=User.encode_roles([Role.admin.value]), org_path="/")


def _local_at(day: date, hour: int, world: DemoWorld) -> datetime:
    return datetime.combine(day, time(hour, 30), tzinfo=world.settings.tz).astimezone(UTC)


async def _record_visit(
    *,
    worker: User,
    client: Client,
    n: int,
    kind: VisitKind,
    occurred_at: datetime,
    notes: str,
    settings: Settings,
    now: datetime,
    lon: float | None = None,
    lat: float | None = None,
    accuracy_m: float | None = None,
) -> None:
    """The client's n-th demo visit, through the same path (and idempotency) as the API's."""
    visit_id = uuid.uuid5(uuid.NAMESPACE_URL, f"demo-visit:{client.id}:{n}")
    body = {
        "id": visit_id,
        "kind": kind,
        "occurred_at": occurred_at,
        "lon": lon,
        "lat": lat,
        "accuracy_m": accuracy_m,
        "notes": notes,
    }
    await visits.record_visit(
        user=worker,
        client=client,
        visit_id=visit_id,
        kind=kind,
        occurred_at=occurred_at,
        lon=lon,
        lat=lat,
        accuracy_m=accuracy_m,
        notes=notes,
        request_hash=fingerprint(body, owner=f"{worker.id}:{client.id}"),
        settings=settings,
        now=now,
    )


async def _closed_case(world: DemoWorld, *, supervisor: User, worker: User, now: datetime) -> None:
    """马某某: registered eleven months ago, visited monthly, moved to 上海 and closed (结案)."""
    settings = world.settings
    registered_at = now - timedelta(days=330)
    closed_at = now - timedelta(days=35)
    client = await clients.create_client(
        user=supervisor,
        full_name="马某某",
        category=ClientCategory.released_prisoner,
        id_number=demo_id_number("19870304", 131),
        phone="13905134900",
        address="崇川区和平桥街道长桥路 5 号 2 幢 402",
        home_lon=round(CENTRE_LON + 0.0027, 6),
        home_lat=round(CENTRE_LAT - 0.0012, 6),
        risk_level=RiskLevel.low,
        org_unit_id=world.units["hepingqiao"].id,
        settings=settings,
    )
    # Registered back then (the demo is built today): the closing date may not precede it.
    await Client.filter(id=client.id).update(created_at=registered_at)
    client.created_at = registered_at
    await caseloads.assign_worker(
        actor=supervisor, client=client, worker_id=worker.id, settings=settings, now=registered_at
    )
    for n in range(9):
        await _record_visit(
            worker=worker,
            client=client,
            n=n,
            kind=VisitKind.phone,
            occurred_at=registered_at + timedelta(days=30 * n + 6, hours=2),
            notes=VISIT_NOTES[n % len(VISIT_NOTES)],
            settings=settings,
            now=now,
        )
    await client.refresh_from_db()
    await closing.close_case(
        actor=worker,
        client=client,
        closed_on=cadence.local_today(now=closed_at, tz=settings.tz) - timedelta(days=3),
        reason=CloseReason.moved_away,
        note="已随家人迁往上海市居住，经电话核实后结案",
        settings=settings,
        now=closed_at,
    )


async def demo_step(world: DemoWorld) -> None:
    """Create the team, twelve open cases and a closed one with visits, a care group, done tasks."""
    settings = world.settings
    now = clock.now()
    today = cadence.local_today(now=now, tz=settings.tz)
    supervisor = world.users["supervisor_hp"]
    workers = {"worker1": world.users["worker1"], "worker2": world.users["worker2"]}
    street = world.units["hepingqiao"]
    team = await org.create_team(
        actor=_admin(),
        name="和平桥街道社工站",
        org_unit_id=street.id,
        lead_id=workers["worker1"].id,
        member_ids=[workers["worker2"].id],
        anchor_month=date(today.year - 1, 1, 1),
    )

    caseload = []
    for i, (name, category, risk, born, worker_key, address, (east, north)) in enumerate(CLIENTS):
        client = await clients.create_client(
            user=supervisor,
            full_name=name,
            category=category,
            id_number=demo_id_number(born, 101 + 2 * i),
            phone=f"1390513{4200 + i * 37:04d}",
            address=address,
            home_lon=round(CENTRE_LON + east / 1000, 6),
            home_lat=round(CENTRE_LAT + north / 1000, 6),
            risk_level=risk,
            org_unit_id=street.id,
            settings=settings,
        )
        assigned_at = now - timedelta(days=150 + 9 * i)
        await caseloads.assign_worker(
            actor=supervisor,
            client=client,
            worker_id=workers[worker_key].id,
            settings=settings,
            now=assigned_at,
        )
        caseload.append((client, workers[worker_key], risk))

    # A transfer in the history: 陈某某 was first with worker1.
    transferred, worker2, _ = caseload[5]
    await caseloads.assign_worker(
        actor=supervisor,
        client=transferred,
        worker_id=workers["worker1"].id,
        settings=settings,
        now=now - timedelta(days=200),
    )
    await caseloads.assign_worker(
        actor=supervisor,
        client=transferred,
        worker_id=worker2.id,
        settings=settings,
        now=now - timedelta(days=120),
    )

    # Visits at each client's cadence over the last four months; two clients are left overdue.
    for i, (client, worker, risk) in enumerate(caseload):
        cadence_days = cadence.VISIT_CADENCE_DAYS[risk]
        # At least a day ago: a visit "today" at 09:30 would lie in the future before that hour.
        last_gap = cadence_days + 3 if i in (3, 8) else 1 + (i * 3) % (cadence_days - 1)
        day = today - timedelta(days=last_gap)
        visit_days = []
        while day > today - timedelta(days=120):
            visit_days.append(day)
            day -= timedelta(days=cadence_days)
        for n, visit_day in enumerate(reversed(visit_days)):
            kind = [VisitKind.home, VisitKind.office, VisitKind.phone][(i + n) % 3]
            at_home = kind == VisitKind.home and client.home_lon is not None
            # Home visits are made at the door, with the phone's usual accuracy.
            await _record_visit(
                worker=worker,
                client=client,
                n=n,
                kind=kind,
                occurred_at=_local_at(visit_day, 9 + (n % 8), world),
                notes=VISIT_NOTES[(i + n) % len(VISIT_NOTES)],
                lon=client.home_lon + 0.0004 if at_home and client.home_lon else None,
                lat=client.home_lat - 0.0003 if at_home and client.home_lat else None,
                accuracy_m=12.0 + n % 20 if at_home else None,
                settings=settings,
                now=now,
            )

    await _closed_case(world, supervisor=supervisor, worker=workers["worker2"], now=now)

    # A care group for 吴某某 (at-risk youth): the worker's colleague, the officer, a volunteer.
    youth = caseload[9][0]
    await care_groups.add_care_member(
        actor=supervisor, client=youth, user_id=workers["worker2"].id, role=CareRole.social_worker
    )
    await care_groups.add_care_member(
        actor=supervisor,
        client=youth,
        user_id=world.users["officer"].id,
        role=CareRole.police_officer,
    )
    await care_groups.add_care_member(
        actor=supervisor, client=youth, user_id=world.users["patrol1"].id, role=CareRole.volunteer
    )

    # 赵某某 lives in 城东 for a while: supervision delegated there (委托帮教).
    await caseloads.create_delegation(
        actor=supervisor,
        client=caseload[3][0],
        org_unit_id=world.units["chengdong"].id,
        starts_on=today - timedelta(days=20),
        ends_on=today + timedelta(days=70),
        note="暂住城东街道亲属家，委托城东街道社工站协助帮教",
    )

    # The six-ones since January last year, all done on time but the two most recent past ones.
    tasks = await sixones.tasks_for_teams(
        teams=[team],
        from_on=team.anchor_month,
        to_on=today - timedelta(days=1),
        today=today,
        tz=settings.tz,
    )
    attendees = [workers["worker1"].id, workers["worker2"].id]
    for task in tasks[:-2]:
        row = await access.load_task(user=supervisor, task_id=task.id, today=today)
        # Never after now: a task due in a day or two would otherwise be done in the future.
        completed_at = min(
            _local_at(task.due_on - timedelta(days=4), 14, world), now - timedelta(minutes=10)
        )
        notes = f"{KIND_NAMES_ZH[TaskKind(task.kind)]}（{task.period}）已完成，记录存档。"
        body = {"completed_at": completed_at, "notes": notes, "attendee_ids": attendees}
        await sixones.complete_task(
            user=workers["worker1"],
            task=row,
            completed_at=completed_at,
            notes=notes,
            attendee_ids=attendees,
            request_hash=fingerprint(body),
            tz=settings.tz,
            now=now,
        )
