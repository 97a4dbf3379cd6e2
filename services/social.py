"""Social work: clients, caseloads, visits, care groups, delegations and the six-ones tasks.

Scope: admins see every client; supervisors the clients of their subtree (and those delegated to
it); social workers their own caseload; any user the clients whose care group they belong to.
Everything else is a 404 for the object and a 403 for a role that may never touch clients.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from geo.measure import haversine_m
from grassroots import db
from grassroots.db import registered_model
from grassroots.settings import Settings, get_settings
from models.org import OrgUnit, Role, Team, TeamMember, User
from models.social import (
    CareGroupMember,
    CareRole,
    CaseAssignment,
    CaseClosure,
    CaseStatus,
    Client,
    ClientCategory,
    CloseReason,
    Delegation,
    RiskLevel,
    TeamTask,
    Visit,
    VisitKind,
)
from services import alerts, audit
from services.errors import Conflict, Forbidden, Invalid, NotFound
from services.group_commit import GroupCommit
from services.idempotency import create_once
from services.identity import IdentityCipher, InvalidIdNumber, mask_id_number, validate_id_number
from services.jobs import job
from services.messages import register_messages
from services.notices import Notice, notice_source
from services.org import supervisors_for
from services.scope import in_subtree, is_admin
from services.sixones_rules import KIND_NAMES_ZH, TaskKind, TaskPeriod, periods_between, task_status
from services.spreadsheet import excel_csv

register_messages(
    {
        "caseload_full": ("该社工的个案已满", "The social worker's caseload is full"),
        "invalid_id_number": ("身份证号码无效", "The identity number is invalid"),
        "not_a_social_worker": (
            "指定用户不是管辖范围内的社工",
            "The user is not a social worker in your scope",
        ),
        "visit_in_future": ("走访时间不能晚于当前时间", "The visit cannot lie in the future"),
        "location_incomplete": (
            "经度和纬度须同时提供",
            "Give both longitude and latitude, or neither",
        ),
        "care_group_youth_only": (
            "只有闲散青少年可以建立关爱小组",
            "Only at-risk youth have a care group",
        ),
        "already_in_care_group": (
            "该用户已在关爱小组中担任其他角色",
            "The user is already in the care group with another role",
        ),
        "invalid_date_range": ("结束日期早于开始日期", "The end date lies before the start date"),
        "range_too_long": ("查询区间过长", "The date range is too long"),
        "delegation_same_unit": (
            "不能委托给服务对象所属的单位",
            "Cannot delegate to the client's own org unit",
        ),
        "delegation_overlaps": (
            "与已有的委托帮教时间重叠",
            "Overlaps an existing delegation",
        ),
        "task_already_completed": (
            "该任务已以不同内容完成",
            "The task was already completed with a different body",
        ),
        "completed_in_future": (
            "完成时间不能晚于当前时间",
            "The completion time lies in the future",
        ),
        "completed_before_period": (
            "完成时间早于任务周期开始",
            "The completion time lies before the task's period",
        ),
        "attendee_not_in_team": ("参加人须为本团队成员", "Attendees must be members of the team"),
        "case_closed": (
            "该服务对象已结案，须先重新开案",
            "The client's case is closed: reopen it first",
        ),
        "case_not_closed": ("该服务对象的个案未结案", "The client's case is not closed"),
        "client_under_supervision": (
            "该服务对象的社区矫正在结案日期后仍在执行，不能结案",
            "The client is under community-correction supervision after the closing date",
        ),
        "closed_on_in_future": (
            "结案日期不能晚于今天",
            "The closing date cannot lie in the future",
        ),
        "closed_on_too_early": (
            "结案日期不能早于 {earliest}（建档、分派或重新开案的日期）",
            "The closing date cannot lie before {earliest} (registration, assignment or reopening)",
        ),
    }
)

CLIENT_ROLES: Final = (Role.admin.value, Role.supervisor.value, Role.social_worker.value)
TEAM_ROLES: Final = CLIENT_ROLES
REPORT_ROLES: Final = (Role.admin.value, Role.supervisor.value)

# Days between visits by risk level (the design's defaults).
VISIT_CADENCE_DAYS: Final[dict[RiskLevel, int]] = {
    RiskLevel.high: 7,
    RiskLevel.medium: 14,
    RiskLevel.low: 30,
}
FUTURE_SLACK: Final = timedelta(minutes=5)
HOME_RADIUS_M: Final = 200.0
MAX_ACCURACY_M: Final = 100.0
MAX_RANGE_DAYS: Final = 4100  # a little over 11 years
OVERDUE_TASK_LOOKBACK_DAYS: Final = 400
# Stable ids of six-ones tasks: uuid5 of this namespace and "team:kind:period".
TASK_NAMESPACE: Final = uuid.UUID("6f0e7d1c-3a55-4c1e-9a43-5a1d0c0f6e01")

CATEGORY_NAMES_ZH: Final[dict[ClientCategory, str]] = {
    ClientCategory.community_correction: "社区矫正对象",
    ClientCategory.released_prisoner: "刑释解教人员",
    ClientCategory.drug_rehab: "吸毒人员",
    ClientCategory.at_risk_youth: "闲散青少年",
}
KIND_ORDER: Final[dict[str, int]] = {kind.value: i for i, kind in enumerate(TaskKind)}


# --- time and identity helpers --------------------------------------------------------------


def local_today(*, now: datetime, tz: ZoneInfo) -> date:
    """The calendar date of `now` in the deployment's time zone."""
    return now.astimezone(tz).date()


def visit_due_on(
    *,
    risk_level: RiskLevel | str,
    last_visit_at: datetime | None,
    assigned_at: datetime | None,
    tz: ZoneInfo,
    reopened_at: datetime | None = None,
) -> date | None:
    """The local date the next visit is due: cadence days after the last visit or the assignment."""
    # A reopened case starts afresh: a visit from before it was closed does not make it overdue.
    if last_visit_at is not None and reopened_at is not None and last_visit_at < reopened_at:
        last_visit_at = None
    base = last_visit_at or assigned_at
    if base is None:
        return None
    return local_today(now=base, tz=tz) + timedelta(days=VISIT_CADENCE_DAYS[RiskLevel(risk_level)])


def is_overdue(*, due_on: date | None, today: date) -> bool:
    """A visit is overdue once the local day after its due date has begun."""
    return due_on is not None and today > due_on


@lru_cache(maxsize=4)
def _cipher_for(secret: str) -> IdentityCipher:
    return IdentityCipher(secret)


def identity_cipher(settings: Settings) -> IdentityCipher:
    """The identity-number cipher, keyed by `identity_key` or a key derived from `secret_key`."""
    return _cipher_for(settings.identity_secret())


def check_id_number(value: str, *, loc: Sequence[str | int] = ("body", "id_number")) -> str:
    """The normalised identity number, or a 422 `invalid_id_number` naming the failed check."""
    try:
        return validate_id_number(value)
    except InvalidIdNumber as exc:
        raise Invalid(
            "invalid_id_number",
            errors=[{"loc": list(loc), "msg": f"invalid identity number: {exc.reason}"}],
        ) from None


def haversine(*, lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in meters between two points."""
    return float(haversine_m(lon1=lon1, lat1=lat1, lon2=lon2, lat2=lat2))


# --- scope ----------------------------------------------------------------------------------


def _active_delegation_filter(*, today: date) -> Q:
    return Q(starts_on__lte=today) & (Q(ends_on__isnull=True) | Q(ends_on__gte=today))


def client_scope(user: User, *, today: date) -> Q | None:
    """The filter of clients the user may see; None means every client (admins)."""
    if is_admin(user):
        return None
    cond = Q(id__in=Subquery(CareGroupMember.filter(user_id=user.id).values("client_id")))
    if user.has_role(Role.supervisor):
        delegated = Delegation.filter(
            _active_delegation_filter(today=today), org_path__startswith=user.org_path
        ).values("client_id")
        cond = cond | Q(org_path__startswith=user.org_path) | Q(id__in=Subquery(delegated))
    if user.has_role(Role.social_worker):
        cond = cond | Q(social_worker_id=user.id)
    return cond


async def require_client_role(user: User) -> None:
    """403 unless the user works with clients or belongs to some care group."""
    if user.has_role(*CLIENT_ROLES):
        return
    if not await CareGroupMember.filter(user_id=user.id).exists():
        raise Forbidden()


async def visible_clients(*, user: User, today: date) -> QuerySet[Client]:
    """Every client the user may see (403 for a role that sees none)."""
    await require_client_role(user)
    cond = client_scope(user, today=today)
    qs = Client.all()
    return qs if cond is None else qs.filter(cond)


async def load_client(
    *, user: User, client_id: uuid.UUID, today: date, read: bool = True
) -> Client:
    """A client in the user's scope, else 404; `read` audits the read."""
    qs = await visible_clients(user=user, today=today)
    client = await qs.get_or_none(id=client_id)
    if client is None:
        raise NotFound()
    if read:
        await audit.record(action="read", resource_type="client", resource_id=client.id)
    return client


def can_manage(user: User, client: Client) -> bool:
    """Admins and supervisors of the client's unit manage its case."""
    return is_admin(user) or (
        user.has_role(Role.supervisor) and in_subtree(user=user, org_path=client.org_path)
    )


def can_coordinate(user: User, client: Client) -> bool:
    """Managers and the client's own social worker coordinate care groups and delegations."""
    return can_manage(user, client) or client.social_worker_id == user.id


# --- clients --------------------------------------------------------------------------------


async def _org_unit_in_scope(*, user: User, org_unit_id: uuid.UUID) -> OrgUnit:
    unit = await OrgUnit.get_or_none(id=org_unit_id)
    if unit is None or not in_subtree(user=user, org_path=unit.path):
        raise Invalid(
            "org_unit_outside_scope",
            errors=[{"loc": ["body", "org_unit_id"], "msg": "org_unit_outside_scope"}],
        )
    return unit


def _check_home(home_lon: float | None, home_lat: float | None) -> None:
    if (home_lon is None) != (home_lat is None):
        raise Invalid(
            "location_incomplete",
            errors=[{"loc": ["body", "home_lon"], "msg": "location_incomplete"}],
        )


async def create_client(
    *,
    user: User,
    full_name: str,
    category: ClientCategory,
    id_number: str | None,
    phone: str | None,
    address: str,
    home_lon: float | None,
    home_lat: float | None,
    risk_level: RiskLevel,
    org_unit_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
) -> Client:
    """A new client in the caller's subtree; a social worker who creates one takes the case."""
    if not user.has_role(*CLIENT_ROLES):
        raise Forbidden()
    _check_home(home_lon, home_lat)
    cipher_fields: dict[str, Any] = {}
    if id_number is not None:
        number = check_id_number(id_number)
        cipher = identity_cipher(settings)
        cipher_fields = {
            "id_number_cipher": cipher.encrypt(number),
            "id_number_hash": cipher.search_hash(number),
            "id_number_masked": mask_id_number(number),
        }
    unit = await _org_unit_in_scope(user=user, org_unit_id=org_unit_id)
    now = now or datetime.now(UTC)
    takes_case = user.has_role(Role.social_worker) and not user.has_role(
        Role.admin, Role.supervisor
    )
    async with in_transaction():
        client = await Client.create(
            full_name=full_name,
            category=category,
            phone=phone,
            address=address,
            home_lon=home_lon,
            home_lat=home_lat,
            risk_level=risk_level,
            org_unit=unit,
            org_path=unit.path,
            **cipher_fields,
        )
        if takes_case:
            await _assign_locked(client=client, worker=user, actor=user, settings=settings, now=now)
    await audit.record(action="create", resource_type="client", resource_id=client.id)
    return client


async def update_client(
    *,
    user: User,
    client: Client,
    changes: dict[str, Any],
    settings: Settings,
) -> Client:
    """Change a client's contact, home or risk level (managers and the client's worker).

    A closed case may still be corrected (records are kept); it stays closed with no visit due.
    """
    if not can_coordinate(user, client):
        raise Forbidden()
    if "id_number" in changes:
        raw = changes.pop("id_number")
        if raw is None:
            changes.update(id_number_cipher=None, id_number_hash=None, id_number_masked=None)
        else:
            number = check_id_number(raw)
            cipher = identity_cipher(settings)
            changes.update(
                id_number_cipher=cipher.encrypt(number),
                id_number_hash=cipher.search_hash(number),
                id_number_masked=mask_id_number(number),
            )
    home_lon = changes.get("home_lon", client.home_lon)
    home_lat = changes.get("home_lat", client.home_lat)
    _check_home(home_lon, home_lat)
    for name, value in changes.items():
        setattr(client, name, value)
    client.visit_due_on = visit_due_on(
        risk_level=client.risk_level,
        last_visit_at=client.last_visit_at,
        assigned_at=client.assigned_at if client.social_worker_id else None,
        tz=settings.tz,
        reopened_at=client.reopened_at,
    )
    if client.status == CaseStatus.closed:
        client.visit_due_on = None  # a closed record may be corrected, but no visit falls due
    await client.save()
    await audit.record(
        action="update",
        resource_type="client",
        resource_id=client.id,
        detail={"fields": sorted(k for k in changes if not k.startswith("id_number"))},
    )
    return client


async def list_clients(
    *,
    user: User,
    today: date,
    category: ClientCategory | None = None,
    org_unit_id: uuid.UUID | None = None,
    social_worker_id: uuid.UUID | None = None,
    risk_level: RiskLevel | None = None,
    id_number: str | None = None,
    status: CaseStatus | None = None,
    settings: Settings,
) -> QuerySet[Client]:
    """Clients in scope matching the filters; `id_number` is an exact match on the keyed hash.

    Without `status` the list holds open and closed cases alike: records are kept, and a search
    must find a closed case so that it is reopened rather than registered twice.
    """
    qs = await visible_clients(user=user, today=today)
    if category is not None:
        qs = qs.filter(category=category)
    if org_unit_id is not None:
        qs = qs.filter(org_unit_id=org_unit_id)
    if social_worker_id is not None:
        qs = qs.filter(social_worker_id=social_worker_id)
    if risk_level is not None:
        qs = qs.filter(risk_level=risk_level)
    if status is not None:
        qs = qs.filter(status=status)
    if id_number is not None:
        number = check_id_number(id_number)
        qs = qs.filter(id_number_hash=identity_cipher(settings).search_hash(number))
    return qs


async def audit_list_read(*, clients: Sequence[Client]) -> None:
    """One audit entry for a list of client records shown to the caller."""
    await audit.record(
        action="list",
        resource_type="client",
        resource_id=None,
        detail={"client_ids": [str(c.id) for c in clients]},
    )


# --- caseloads ------------------------------------------------------------------------------


async def _assign_locked(
    *, client: Client, worker: User, actor: User, settings: Settings, now: datetime
) -> None:
    """Give `client` to `worker` inside the caller's transaction, counting the cap under a lock."""
    # Locking the worker's row serialises concurrent assignments to the same worker on PostgreSQL
    # (SQLite runs one transaction at a time anyway), so the count below cannot go stale.
    await User.filter(id=worker.id).select_for_update().first()
    held = (
        await Client.filter(social_worker_id=worker.id, status=CaseStatus.open)
        .exclude(id=client.id)
        .count()
    )
    if held >= settings.caseload_cap:
        raise Conflict("caseload_full", params={"cap": settings.caseload_cap})
    due = visit_due_on(
        risk_level=client.risk_level,
        last_visit_at=client.last_visit_at,
        assigned_at=now,
        tz=settings.tz,
        reopened_at=client.reopened_at,
    )
    # Conditional on the case being open: a close that won the race rolls this assignment back.
    updated = await Client.filter(id=client.id, status=CaseStatus.open).update(
        social_worker_id=worker.id, assigned_at=now, visit_due_on=due
    )
    if not updated:
        raise Conflict("case_closed")
    await CaseAssignment.filter(client_id=client.id, ends_at__isnull=True).update(ends_at=now)
    await CaseAssignment.create(
        client_id=client.id, worker_id=worker.id, assigned_by_id=actor.id, starts_at=now
    )
    client.social_worker_id = worker.id
    client.assigned_at = now
    client.visit_due_on = due


async def assign_worker(
    *,
    actor: User,
    client: Client,
    worker_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
) -> Client:
    """Give the case to a social worker in the actor's scope; old assignments stay as history."""
    if not can_manage(actor, client):
        raise Forbidden()
    if client.status == CaseStatus.closed:
        raise Conflict("case_closed")
    worker = await User.get_or_none(id=worker_id, is_active=True, deleted_at=None)
    if (
        worker is None
        or not worker.has_role(Role.social_worker)
        or not in_subtree(user=actor, org_path=worker.org_path)
    ):
        raise Invalid(
            "not_a_social_worker",
            errors=[{"loc": ["body", "user_id"], "msg": "not_a_social_worker"}],
        )
    if client.social_worker_id == worker.id:
        return client
    now = now or datetime.now(UTC)
    async with in_transaction():
        await _assign_locked(client=client, worker=worker, actor=actor, settings=settings, now=now)
    await audit.record(
        action="assign",
        resource_type="client",
        resource_id=client.id,
        detail={"social_worker_id": str(worker.id)},
    )
    return client


async def create_delegation(
    *,
    actor: User,
    client: Client,
    org_unit_id: uuid.UUID,
    starts_on: date,
    ends_on: date | None,
    note: str,
) -> Delegation:
    """Delegate supervision of a client to another org unit for a period (委托帮教)."""
    if not can_coordinate(actor, client):
        raise Forbidden()
    if client.status == CaseStatus.closed:
        raise Conflict("case_closed")
    if ends_on is not None and ends_on < starts_on:
        raise Invalid(
            "invalid_date_range", errors=[{"loc": ["body", "ends_on"], "msg": "invalid_date_range"}]
        )
    unit = await OrgUnit.get_or_none(id=org_unit_id)
    if unit is None:
        raise Invalid(
            "org_unit_outside_scope",
            errors=[{"loc": ["body", "org_unit_id"], "msg": "org_unit_outside_scope"}],
        )
    if unit.id == client.org_unit_id:
        raise Invalid("delegation_same_unit")
    overlap = Q(client_id=client.id) & (Q(ends_on__isnull=True) | Q(ends_on__gte=starts_on))
    if ends_on is not None:
        overlap &= Q(starts_on__lte=ends_on)
    if await Delegation.filter(overlap).exists():
        raise Conflict("delegation_overlaps")
    delegation = await Delegation.create(
        client_id=client.id,
        org_unit=unit,
        org_path=unit.path,
        starts_on=starts_on,
        ends_on=ends_on,
        note=note,
        created_by_id=actor.id,
    )
    await audit.record(
        action="delegate",
        resource_type="client",
        resource_id=client.id,
        detail={"delegation_id": str(delegation.id), "org_unit_id": str(unit.id)},
    )
    return delegation


async def end_delegation(
    *, actor: User, client: Client, delegation_id: uuid.UUID, ends_on: date
) -> Delegation:
    """Close an open delegation on `ends_on`."""
    if not can_coordinate(actor, client):
        raise Forbidden()
    delegation = await Delegation.get_or_none(id=delegation_id, client_id=client.id)
    if delegation is None:
        raise NotFound()
    if ends_on < delegation.starts_on:
        raise Invalid(
            "invalid_date_range", errors=[{"loc": ["body", "ends_on"], "msg": "invalid_date_range"}]
        )
    delegation.ends_on = ends_on
    await delegation.save(update_fields=["ends_on", "updated_at"])
    await audit.record(
        action="update",
        resource_type="delegation",
        resource_id=delegation.id,
        detail={"client_id": str(client.id)},
    )
    return delegation


# --- closing and reopening a case (结案 / 重新开案) ------------------------------------------


async def _under_supervision_after(*, client_id: uuid.UUID, closed_on: date) -> bool:
    """True when a community-correction supervision of the client runs past `closed_on`.

    Supervision belongs to the correction capability: its model is looked up by name, and a
    deployment without it has no supervision to wait for.
    """
    model = registered_model("Supervision")
    if model is None:
        return False
    return bool(await model.filter(client_id=client_id, ends_on__gt=closed_on).exists())


def _earliest_close_on(*, client: Client, tz: ZoneInfo) -> date:
    """A case cannot close before it was registered, last assigned or last reopened."""
    moments = [client.created_at, client.assigned_at, client.reopened_at]
    return max(local_today(now=m, tz=tz) for m in moments if m is not None)


async def _replayed_close(
    *, client: Client, closed_on: date, reason: CloseReason, note: str
) -> Client:
    """The identical close again answers the stored case (200); any other close is a 409."""
    closure = await CaseClosure.filter(client_id=client.id, reopened_at__isnull=True).first()
    if (
        closure is None
        or closure.closed_on != closed_on
        or closure.reason != reason
        or closure.note != note
    ):
        raise Conflict("case_closed")
    return client


class _CloseLost(Exception):
    """Another request closed the case between loading it and closing it."""


async def close_case(
    *,
    actor: User,
    client: Client,
    closed_on: date,
    reason: CloseReason,
    note: str,
    settings: Settings,
    now: datetime | None = None,
) -> Client:
    """Close a case (结案): off the caseload, no visits due, records kept.

    The client's social worker and the managers of its unit may close it. `closed_on` is a local
    date, not in the future and not before the case was registered, last assigned or reopened.
    Closing ends the current assignment (the history keeps who held the case when), ends every
    delegation still running after `closed_on` and drops those that would only start after it.
    A case whose community-correction supervision runs past `closed_on` cannot close (409
    `client_under_supervision`). The identical close again is a no-op answered with the stored
    case (a phone's retry); another close of a closed case is a 409 `case_closed`.
    """
    if not can_coordinate(actor, client):
        raise Forbidden()
    if client.status == CaseStatus.closed:
        return await _replayed_close(client=client, closed_on=closed_on, reason=reason, note=note)
    now = now or datetime.now(UTC)
    if closed_on > local_today(now=now, tz=settings.tz):
        raise Invalid(
            "closed_on_in_future",
            errors=[{"loc": ["body", "closed_on"], "msg": "closed_on_in_future"}],
        )
    earliest = _earliest_close_on(client=client, tz=settings.tz)
    if closed_on < earliest:
        raise Invalid(
            "closed_on_too_early",
            params={"earliest": earliest.isoformat()},
            errors=[{"loc": ["body", "closed_on"], "msg": "closed_on_too_early"}],
        )
    if await _under_supervision_after(client_id=client.id, closed_on=closed_on):
        raise Conflict("client_under_supervision")
    try:
        async with in_transaction():
            # Conditional on the case still being open: of two concurrent closes one stores.
            closed = await Client.filter(id=client.id, status=CaseStatus.open).update(
                status=CaseStatus.closed,
                closed_on=closed_on,
                close_reason=reason,
                visit_due_on=None,
                updated_at=now,
            )
            if not closed:
                raise _CloseLost()
            closure = await CaseClosure.create(
                client_id=client.id,
                closed_on=closed_on,
                reason=reason,
                note=note,
                closed_by_id=actor.id,
                closed_at=now,
            )
            await CaseAssignment.filter(client_id=client.id, ends_at__isnull=True).update(
                ends_at=now
            )
            running = await Delegation.filter(
                Q(client_id=client.id) & (Q(ends_on__isnull=True) | Q(ends_on__gt=closed_on))
            )
            ended = [d.id for d in running if d.starts_on <= closed_on]
            dropped = [d.id for d in running if d.starts_on > closed_on]
            if ended:
                await Delegation.filter(id__in=ended).update(ends_on=closed_on)
            if dropped:
                await Delegation.filter(id__in=dropped).delete()
            await audit.record(
                action="close",
                resource_type="client",
                resource_id=client.id,
                detail={
                    "closure_id": str(closure.id),
                    "closed_on": closed_on.isoformat(),
                    "reason": reason.value,
                    "social_worker_id": _id_or_none(client.social_worker_id),
                    "ended_delegation_ids": [str(i) for i in ended],
                    "dropped_delegation_ids": [str(i) for i in dropped],
                },
            )
    except _CloseLost:
        await client.refresh_from_db()
        return await _replayed_close(client=client, closed_on=closed_on, reason=reason, note=note)
    await client.refresh_from_db()
    return client


async def reopen_case(
    *, actor: User, client: Client, note: str, now: datetime | None = None
) -> Client:
    """Reopen a closed case (重新开案); it has no worker until a manager assigns one.

    Only the managers of the client's unit reopen a case, as only they assign one: the case comes
    back unassigned (the worker who held it may have moved on or be at the cap), and the assignment
    that follows goes through the usual cap check. The next visit then falls due a cadence after
    that assignment, not after a visit from before the case was closed. Reopening an open case is
    a 409 `case_not_closed`.
    """
    if not can_manage(actor, client):
        raise Forbidden()
    if client.status != CaseStatus.closed:
        raise Conflict("case_not_closed")
    now = now or datetime.now(UTC)
    async with in_transaction():
        reopened = await Client.filter(id=client.id, status=CaseStatus.closed).update(
            status=CaseStatus.open,
            closed_on=None,
            close_reason=None,
            reopened_at=now,
            social_worker_id=None,
            assigned_at=None,
            visit_due_on=None,
            updated_at=now,
        )
        if not reopened:
            raise Conflict("case_not_closed")
        closure = await CaseClosure.filter(client_id=client.id, reopened_at__isnull=True).first()
        if closure is not None:
            await CaseClosure.filter(id=closure.id).update(
                reopened_at=now, reopened_by_id=actor.id, reopen_note=note, updated_at=now
            )
        await audit.record(
            action="reopen",
            resource_type="client",
            resource_id=client.id,
            detail={"closure_id": None if closure is None else str(closure.id)},
        )
    await client.refresh_from_db()
    return client


def _id_or_none(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class AssignmentView:
    """One stretch of a case with one worker."""

    user_id: uuid.UUID
    full_name: str
    starts_at: datetime
    ends_at: datetime | None
    assigned_by_id: uuid.UUID | None


@dataclass(frozen=True)
class ClientHistory:
    """Who held the case, which units it was delegated to, and when it was closed and reopened."""

    assignments: list[AssignmentView]
    delegations: list[Delegation]
    closures: list[CaseClosure]


async def client_history(*, client: Client) -> ClientHistory:
    """The assignment, delegation and closing history of a client, oldest first."""
    rows = await CaseAssignment.filter(client_id=client.id).order_by("starts_at", "created_at")
    names = dict(
        await User.filter(id__in=list({r.worker_id for r in rows})).values_list("id", "full_name")
    )
    delegations = await Delegation.filter(client_id=client.id).order_by("starts_on", "created_at")
    return ClientHistory(
        assignments=[
            AssignmentView(
                user_id=r.worker_id,
                full_name=str(names.get(r.worker_id, "")),
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                assigned_by_id=r.assigned_by_id,
            )
            for r in rows
        ],
        delegations=list(delegations),
        closures=list(
            await CaseClosure.filter(client_id=client.id).order_by("closed_at", "created_at")
        ),
    )


_READ_AUDIT = GroupCommit()

CASELOAD_FIELDS: Final = (
    "id",
    "full_name",
    "category",
    "id_number_masked",
    "phone",
    "address",
    "home_lon",
    "home_lat",
    "risk_level",
    "org_unit_id",
    "social_worker_id",
    "assigned_at",
    "last_visit_at",
    "visit_due_on",
    "status",
    "closed_on",
    "close_reason",
    "created_at",
    "updated_at",
)


async def my_caseload(*, user: User) -> list[dict[str, Any]]:
    """My open cases as plain rows, most urgent first: one query, no joins, no models.

    Phones poll this list, so it is one plain SELECT: building 50 ORM objects (or converting
    every field through the ORM) costs more than the query itself (see bench/b5_caseload.py).
    Times come back as datetimes on PostgreSQL and as ISO text on SQLite.
    """
    if not user.has_role(Role.social_worker):
        raise Forbidden()
    postgres = db.dialect() == "postgres"
    sql = (
        f"SELECT {', '.join(CASELOAD_FIELDS)} FROM {Client._meta.db_table} "
        f"WHERE social_worker_id = {'$1' if postgres else '?'} "
        f"AND status = {'$2' if postgres else '?'} ORDER BY visit_due_on, full_name"
    )
    rows: list[dict[str, Any]] = await connections.get("default").execute_query_dict(
        sql, [user.id if postgres else str(user.id), CaseStatus.open.value]
    )
    # Polled by every worker's phone: concurrent read audits share one commit, and the answer
    # does not wait for it (a crash may lose the last milliseconds of read audits, never a write).
    _READ_AUDIT.insert_soon(
        audit.entry(
            action="list",
            resource_type="client",
            resource_id=None,
            detail={"client_ids": [str(r["id"]) for r in rows]},
        )
    )
    return rows


# --- visits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitCheck:
    """What the server concluded about a visit's position."""

    location_verified: bool
    distance_m: float | None


def verify_location(
    *,
    kind: VisitKind,
    lon: float | None,
    lat: float | None,
    accuracy_m: float | None,
    home_lon: float | None,
    home_lat: float | None,
) -> VisitCheck:
    """A home visit is verified within 200 m of home with accuracy no worse than 100 m."""
    if lon is None or lat is None or home_lon is None or home_lat is None:
        return VisitCheck(location_verified=False, distance_m=None)
    distance = haversine(lon1=lon, lat1=lat, lon2=home_lon, lat2=home_lat)
    verified = (
        kind == VisitKind.home
        and accuracy_m is not None
        and accuracy_m <= MAX_ACCURACY_M
        and distance <= HOME_RADIUS_M
    )
    return VisitCheck(location_verified=verified, distance_m=round(distance, 1))


async def record_visit(
    *,
    user: User,
    client: Client,
    visit_id: uuid.UUID,
    kind: VisitKind,
    occurred_at: datetime,
    lon: float | None,
    lat: float | None,
    accuracy_m: float | None,
    notes: str,
    request_hash: str,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[Visit, bool]:
    """Store a visit once per client-made id and move the client's next due date forward.

    A closed case takes no new visit (409 `case_closed`); a replay of one stored before it was
    closed still answers with the stored visit.
    """
    now = now or datetime.now(UTC)
    if (lon is None) != (lat is None):
        raise Invalid(
            "location_incomplete", errors=[{"loc": ["body", "lon"], "msg": "location_incomplete"}]
        )

    async def create() -> Visit:
        if occurred_at > now + FUTURE_SLACK:
            raise Invalid(
                "visit_in_future",
                errors=[{"loc": ["body", "occurred_at"], "msg": "visit_in_future"}],
            )
        check = verify_location(
            kind=kind,
            lon=lon,
            lat=lat,
            accuracy_m=accuracy_m,
            home_lon=client.home_lon,
            home_lat=client.home_lat,
        )
        async with in_transaction():
            visit = await Visit.create(
                id=visit_id,
                client_id=client.id,
                recorded_by_id=user.id,
                kind=kind,
                occurred_at=occurred_at,
                lon=lon,
                lat=lat,
                accuracy_m=accuracy_m,
                notes=notes,
                location_verified=check.location_verified,
                distance_m=check.distance_m,
                request_hash=request_hash,
            )
            fresh = await Client.filter(id=client.id).select_for_update().first()
            if fresh is not None and fresh.status == CaseStatus.closed:
                raise Conflict("case_closed")  # the visit above is rolled back
            if fresh is not None and (
                fresh.last_visit_at is None or fresh.last_visit_at < occurred_at
            ):
                due = visit_due_on(
                    risk_level=fresh.risk_level,
                    last_visit_at=occurred_at,
                    assigned_at=fresh.assigned_at,
                    tz=settings.tz,
                    reopened_at=fresh.reopened_at,
                )
                await Client.filter(id=client.id).update(
                    last_visit_at=occurred_at, visit_due_on=due
                )
        await audit.record(
            action="create",
            resource_type="visit",
            resource_id=visit.id,
            detail={"client_id": str(client.id)},
        )
        return visit

    return await create_once(Visit, object_id=visit_id, request_hash=request_hash, create=create)


def client_visits(*, client: Client) -> QuerySet[Visit]:
    """The visits of a client."""
    return Visit.filter(client_id=client.id)


# --- care groups ----------------------------------------------------------------------------


async def add_care_member(
    *, actor: User, client: Client, user_id: uuid.UUID, role: CareRole
) -> tuple[CareGroupMember, bool]:
    """Add a helper to an at-risk youth's care group; the same member again is a no-op."""
    if not can_coordinate(actor, client):
        raise Forbidden()
    if client.status == CaseStatus.closed:
        raise Conflict("case_closed")
    if client.category != ClientCategory.at_risk_youth:
        raise Invalid("care_group_youth_only")
    helper = await User.get_or_none(id=user_id, is_active=True, deleted_at=None)
    # A member reads the client: only people of the client's place (its unit, the units above
    # it, or below it) may join, never someone of another district or a sibling community.
    if helper is None or not (
        client.org_path.startswith(helper.org_path) or helper.org_path.startswith(client.org_path)
    ):
        raise Invalid(
            "user_outside_scope", errors=[{"loc": ["body", "user_id"], "msg": "user_outside_scope"}]
        )
    existing = await CareGroupMember.get_or_none(client_id=client.id, user_id=helper.id)
    if existing is not None:
        if existing.role != role:
            raise Conflict("already_in_care_group")
        return existing, False
    try:
        member = await CareGroupMember.create(client_id=client.id, user_id=helper.id, role=role)
    except IntegrityError:
        found = await CareGroupMember.get_or_none(client_id=client.id, user_id=helper.id)
        if found is None or found.role != role:
            raise Conflict("already_in_care_group") from None
        return found, False
    await audit.record(
        action="create",
        resource_type="care_group_member",
        resource_id=member.id,
        detail={"client_id": str(client.id), "user_id": str(helper.id), "role": role.value},
    )
    return member, True


async def care_group(*, client: Client) -> list[tuple[CareGroupMember, str]]:
    """The care group's members with their names."""
    members = await CareGroupMember.filter(client_id=client.id).order_by("created_at")
    names = dict(
        await User.filter(id__in=[m.user_id for m in members]).values_list("id", "full_name")
    )
    return [(m, str(names.get(m.user_id, ""))) for m in members]


async def remove_care_member(*, actor: User, client: Client, user_id: uuid.UUID) -> None:
    """Remove a helper from the care group (404 when not a member)."""
    if not can_coordinate(actor, client):
        raise Forbidden()
    deleted = await CareGroupMember.filter(client_id=client.id, user_id=user_id).delete()
    if not deleted:
        raise NotFound()
    await audit.record(
        action="delete",
        resource_type="care_group_member",
        resource_id=None,
        detail={"client_id": str(client.id), "user_id": str(user_id)},
    )


# --- teams and the six-ones -----------------------------------------------------------------


def team_scope(user: User) -> Q | None:
    """Teams the user may see: admins all, supervisors their subtree, anyone their own teams."""
    if is_admin(user):
        return None
    cond = Q(lead_id=user.id) | Q(
        id__in=Subquery(TeamMember.filter(user_id=user.id).values("team_id"))
    )
    if user.has_role(Role.supervisor):
        cond = cond | Q(org_path__startswith=user.org_path)
    return cond


def visible_teams(user: User) -> QuerySet[Team]:
    """Teams in the caller's scope (403 for roles without teams)."""
    if not user.has_role(*TEAM_ROLES):
        raise Forbidden()
    cond = team_scope(user)
    return Team.all() if cond is None else Team.filter(cond)


async def my_teams(user: User) -> list[TeamRef]:
    """Teams I lead or belong to (ids and anchors only)."""
    rows = await Team.filter(
        Q(lead_id=user.id)
        | Q(id__in=Subquery(TeamMember.filter(user_id=user.id).values("team_id")))
    ).values_list("id", "anchor_month")
    return [TeamRef(id=uuid.UUID(str(i)), anchor_month=a) for i, a in rows]


async def load_team(*, user: User, team_id: uuid.UUID) -> Team:
    """A team in scope, else 404."""
    team = await visible_teams(user).get_or_none(id=team_id)
    if team is None:
        raise NotFound()
    return team


async def team_members(*, team: Team) -> list[tuple[User, bool]]:
    """The team's members (the lead first) and whether each is the lead."""
    ids = set(await TeamMember.filter(team_id=team.id).values_list("user_id", flat=True))
    ids.add(team.lead_id)  # type: ignore[attr-defined]
    users = await User.filter(id__in=list(ids))
    lead_id = team.lead_id  # type: ignore[attr-defined]
    ordered = sorted(users, key=lambda u: (u.id != lead_id, u.full_name, str(u.id)))
    return [(u, u.id == lead_id) for u in ordered]


def task_id(*, team_id: uuid.UUID, kind: str, period: str) -> uuid.UUID:
    """The stable id of a team's task."""
    return uuid.uuid5(TASK_NAMESPACE, f"{team_id}:{kind}:{period}")


@dataclass(frozen=True)
class TaskView:
    """One six-ones task with its status on the local calendar."""

    id: uuid.UUID
    team_id: uuid.UUID
    kind: str
    period: str
    starts_on: date
    due_on: date
    status: str
    completed_at: datetime | None
    notes: str
    attendee_ids: list[uuid.UUID]


class Scheduled(Protocol):
    """What the schedule needs of a team: a Team row or a TeamRef."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def anchor_month(self) -> date: ...


@dataclass(frozen=True)
class TeamRef:
    """A team's id and anchor month, without loading the row."""

    id: uuid.UUID
    anchor_month: date


def _team_periods(team: Scheduled, *, from_on: date, to_on: date) -> list[TaskPeriod]:
    """The team's tasks due in [from_on, to_on]: none falls due before the team's anchor month."""
    start = max(from_on, team.anchor_month)
    if start > to_on:
        return []
    return periods_between(anchor_month=team.anchor_month, from_on=start, to_on=to_on)


@lru_cache(maxsize=4096)
def _calendar(
    team_id: uuid.UUID, anchor_month: date, from_on: date, to_on: date
) -> tuple[tuple[TaskPeriod, uuid.UUID], ...]:
    """The team's tasks in the range with their ids: pure, so kept (phones poll the same year)."""
    team = TeamRef(id=team_id, anchor_month=anchor_month)
    return tuple(
        (p, task_id(team_id=team_id, kind=p.kind.value, period=p.period))
        for p in _team_periods(team, from_on=from_on, to_on=to_on)
    )


def _new_task(team: Scheduled, period: TaskPeriod) -> TeamTask:
    return TeamTask(
        id=task_id(team_id=team.id, kind=period.kind.value, period=period.period),
        team_id=team.id,
        kind=period.kind.value,
        period=period.period,
        starts_on=period.starts_on,
        due_on=period.due_on,
    )


async def materialise(pairs: Iterable[tuple[Scheduled, TaskPeriod]]) -> dict[uuid.UUID, TeamTask]:
    """The stored row of each task, inserting those never stored (concurrent inserts ignored)."""
    wanted = {task_id(team_id=t.id, kind=p.kind.value, period=p.period): (t, p) for t, p in pairs}
    if not wanted:
        return {}
    found: dict[uuid.UUID, TeamTask] = {}
    ids = list(wanted)
    for i in range(0, len(ids), 500):
        for row in await TeamTask.filter(id__in=ids[i : i + 500]):
            found[row.id] = row
    missing = [_new_task(*wanted[i]) for i in ids if i not in found]
    if missing:
        await TeamTask.bulk_create(missing, ignore_conflicts=True, batch_size=500)
        # Read them back: a concurrent request may have stored (or even completed) some first.
        new_ids = [row.id for row in missing]
        for i in range(0, len(new_ids), 500):
            for row in await TeamTask.filter(id__in=new_ids[i : i + 500]):
                found[row.id] = row
    return found


def task_view(row: TeamTask, *, today: date, tz: ZoneInfo) -> TaskView:
    completed_on = local_today(now=row.completed_at, tz=tz) if row.completed_at else None
    return TaskView(
        id=row.id,
        team_id=row.team_id,
        kind=row.kind,
        period=row.period,
        starts_on=row.starts_on,
        due_on=row.due_on,
        status=task_status(due_on=row.due_on, completed_on_or_none=completed_on, today=today),
        completed_at=row.completed_at,
        notes=row.notes,
        attendee_ids=[uuid.UUID(str(a)) for a in row.attendee_ids or []],
    )


def check_range(*, from_on: date, to_on: date) -> None:
    """422 for an inverted or very long date range."""
    if to_on < from_on:
        raise Invalid(
            "invalid_date_range", errors=[{"loc": ["query", "to"], "msg": "invalid_date_range"}]
        )
    if (to_on - from_on).days > MAX_RANGE_DAYS:
        raise Invalid("range_too_long", errors=[{"loc": ["query", "to"], "msg": "range_too_long"}])


async def tasks_for_teams(
    *,
    teams: Sequence[Scheduled],
    from_on: date,
    to_on: date,
    today: date,
    tz: ZoneInfo,
    known: dict[uuid.UUID, tuple[datetime | None, str, list[Any]]] | None = None,
) -> list[TaskView]:
    """Every task of the teams due in [from_on, to_on], by due date, then kind, then team.

    Only completion is read from the database (the rest is the calendar's); tasks never stored
    are stored now so each keeps its id. `known` is the stored completion when the caller has
    already read it. Phones poll this: no ORM objects on the way (bench/b5).
    """
    check_range(from_on=from_on, to_on=to_on)
    calendar = [
        (t, p, tid) for t in teams for p, tid in _calendar(t.id, t.anchor_month, from_on, to_on)
    ]
    if not calendar:
        return []
    ids = [tid for _, _, tid in calendar]
    completion = known if known is not None else await _completion(ids)
    missing = [(t, p) for t, p, tid in calendar if tid not in completion]
    if missing:
        await TeamTask.bulk_create([_new_task(*m) for m in missing], ignore_conflicts=True)
        # Read back what was missing: a concurrent request may have stored (even completed) it.
        completion.update(await _completion([i for i in ids if i not in completion]))
    views: list[TaskView] = []
    for team, period, tid in calendar:
        completed_at, notes, attendees = completion.get(tid, (None, "", []))
        completed_on = local_today(now=completed_at, tz=tz) if completed_at else None
        views.append(
            TaskView(
                id=tid,
                team_id=team.id,
                kind=period.kind.value,
                period=period.period,
                starts_on=period.starts_on,
                due_on=period.due_on,
                status=task_status(
                    due_on=period.due_on, completed_on_or_none=completed_on, today=today
                ),
                completed_at=completed_at,
                notes=notes,
                attendee_ids=[uuid.UUID(str(a)) for a in attendees],
            )
        )
    views.sort(key=lambda v: (v.due_on, KIND_ORDER.get(v.kind, 99), str(v.team_id)))
    return views


async def _completion(
    ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, tuple[datetime | None, str, list[Any]]]:
    """Completion time, notes and attendees of the stored tasks among `ids`."""
    found: dict[uuid.UUID, tuple[datetime | None, str, list[Any]]] = {}
    for i in range(0, len(ids), 500):
        rows = await TeamTask.filter(id__in=list(ids[i : i + 500])).values_list(
            "id", "completed_at", "notes", "attendee_ids"
        )
        for row_id, completed_at, notes, attendees in rows:
            key = row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id))
            found[key] = (completed_at, str(notes or ""), list(attendees or []))
    return found


async def my_tasks(
    *, user: User, from_on: date, to_on: date, today: date, tz: ZoneInfo
) -> list[TaskView]:
    """Tasks of the teams I lead or belong to: teams and stored completion in one query."""
    check_range(from_on=from_on, to_on=to_on)
    postgres = db.dialect() == "postgres"
    mark = iter(["$1", "$2", "$3", "$4"] if postgres else ["?"] * 4)
    # One round trip for the hot path of the phone app: my teams with their stored tasks.
    sql = (
        "SELECT t.id AS team_id, t.anchor_month, k.id AS task_id, k.completed_at, k.notes, "
        f"k.attendee_ids FROM {Team._meta.db_table} t LEFT JOIN {TeamTask._meta.db_table} k "
        f"ON k.team_id = t.id AND k.due_on >= {next(mark)} AND k.due_on <= {next(mark)} "
        f"WHERE t.lead_id = {next(mark)} OR t.id IN (SELECT team_id FROM "
        f"{TeamMember._meta.db_table} WHERE user_id = {next(mark)})"
    )
    me: Any = user.id if postgres else str(user.id)
    rows = await connections.get("default").execute_query_dict(sql, [from_on, to_on, me, me])
    teams: dict[uuid.UUID, TeamRef] = {}
    known: dict[uuid.UUID, tuple[datetime | None, str, list[Any]]] = {}
    for row in rows:
        team_id = _as_uuid(row["team_id"])
        if team_id not in teams:
            teams[team_id] = TeamRef(id=team_id, anchor_month=_as_date(row["anchor_month"]))
        if row["task_id"] is not None:
            attendees = row["attendee_ids"]
            if isinstance(attendees, str):
                attendees = json.loads(attendees)
            completed_at = row["completed_at"]
            if isinstance(completed_at, str):
                completed_at = datetime.fromisoformat(completed_at)
            known[_as_uuid(row["task_id"])] = (
                completed_at,
                str(row["notes"] or ""),
                list(attendees or []),
            )
    return await tasks_for_teams(
        teams=list(teams.values()), from_on=from_on, to_on=to_on, today=today, tz=tz, known=known
    )


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def default_range(*, today: date) -> tuple[date, date]:
    """The current local calendar year."""
    return date(today.year, 1, 1), date(today.year, 12, 31)


async def load_task(*, user: User, task_id_: uuid.UUID, today: date) -> TeamTask:
    """A task of a team in the caller's scope, else 404 (unlisted ids are found by their uuid5)."""
    teams = visible_teams(user)
    row = await TeamTask.get_or_none(id=task_id_)
    if row is not None:
        if not await teams.filter(id=row.team_id).exists():
            raise NotFound()
        return row
    # Never listed yet (e.g. a reminder's deep link): recompute ids of the visible teams' tasks
    # around today; the id is a pure function of team, kind and period.
    window_from, window_to = today - timedelta(days=800), today + timedelta(days=800)
    for team in await teams:
        for period in _team_periods(team, from_on=window_from, to_on=window_to):
            if task_id(team_id=team.id, kind=period.kind.value, period=period.period) == task_id_:
                return (await materialise([(team, period)]))[task_id_]
    raise NotFound()


async def complete_task(
    *,
    user: User,
    task: TeamTask,
    completed_at: datetime,
    notes: str,
    attendee_ids: Sequence[uuid.UUID],
    request_hash: str,
    tz: ZoneInfo,
    now: datetime | None = None,
) -> TeamTask:
    """Mark a task done once; the same body again is a no-op, another body a 409."""
    if task.completed_at is not None:
        if task.request_hash == request_hash:
            return task
        raise Conflict("task_already_completed")
    now = now or datetime.now(UTC)
    if completed_at > now + FUTURE_SLACK:
        raise Invalid(
            "completed_in_future",
            errors=[{"loc": ["body", "completed_at"], "msg": "completed_in_future"}],
        )
    if local_today(now=completed_at, tz=tz) < task.starts_on:
        raise Invalid(
            "completed_before_period",
            errors=[{"loc": ["body", "completed_at"], "msg": "completed_before_period"}],
        )
    team = await Team.get(id=task.team_id)
    members = set(await TeamMember.filter(team_id=team.id).values_list("user_id", flat=True))
    members.add(team.lead_id)  # type: ignore[attr-defined]
    attendees = list(dict.fromkeys(attendee_ids))
    if any(a not in members for a in attendees):
        raise Invalid(
            "attendee_not_in_team",
            errors=[{"loc": ["body", "attendee_ids"], "msg": "attendee_not_in_team"}],
        )
    updated = await TeamTask.filter(id=task.id, completed_at__isnull=True).update(
        completed_at=completed_at,
        completed_by_id=user.id,
        notes=notes,
        attendee_ids=[str(a) for a in attendees],
        request_hash=request_hash,
    )
    await task.refresh_from_db()
    if updated != 1 and task.request_hash != request_hash:
        raise Conflict("task_already_completed")
    if updated == 1:
        await audit.record(
            action="complete",
            resource_type="team_task",
            resource_id=task.id,
            detail={"team_id": str(team.id), "kind": task.kind, "period": task.period},
        )
    return task


# --- reports --------------------------------------------------------------------------------


def require_report_role(user: User) -> None:
    """Reports are for supervisors and admins."""
    if not user.has_role(*REPORT_ROLES):
        raise Forbidden()


@dataclass(frozen=True)
class CaseloadRow:
    """Caseload size of one social worker."""

    user_id: uuid.UUID
    full_name: str
    org_unit_id: uuid.UUID
    caseload: int
    overdue: int
    cap: int


async def caseload_report(*, user: User, today: date, settings: Settings) -> list[CaseloadRow]:
    """Open caseload sizes and overdue counts of every social worker in the caller's subtree."""
    require_report_role(user)
    workers = User.filter(
        roles_text__contains=f",{Role.social_worker.value},", is_active=True, deleted_at=None
    )
    if not is_admin(user):
        workers = workers.filter(org_path__startswith=user.org_path)
    people = await workers.order_by("full_name", "id")
    ids = [p.id for p in people]
    sizes: dict[Any, int] = {}
    overdue: dict[Any, int] = {}
    if ids:
        for row in (
            await Client.filter(social_worker_id__in=ids, status=CaseStatus.open)
            .annotate(n=Count("id"))
            .group_by("social_worker_id")
            .values("social_worker_id", "n")
        ):
            sizes[row["social_worker_id"]] = row["n"]
        for row in (
            await Client.filter(
                social_worker_id__in=ids, status=CaseStatus.open, visit_due_on__lt=today
            )
            .annotate(n=Count("id"))
            .group_by("social_worker_id")
            .values("social_worker_id", "n")
        ):
            overdue[row["social_worker_id"]] = row["n"]
    await audit.record(
        action="read", resource_type="report", resource_id=None, detail={"report": "caseloads"}
    )
    return [
        CaseloadRow(
            user_id=p.id,
            full_name=p.full_name,
            org_unit_id=p.org_unit_id,  # type: ignore[attr-defined]
            caseload=_count(sizes, p.id),
            overdue=_count(overdue, p.id),
            cap=settings.caseload_cap,
        )
        for p in people
    ]


def _count(counts: dict[Any, int], key: uuid.UUID) -> int:
    # group_by values may come back as UUIDs or strings depending on the database driver.
    return int(counts.get(key, counts.get(str(key), 0)))


@dataclass(frozen=True)
class OverdueRow:
    """One client whose visit is overdue."""

    client_id: uuid.UUID
    full_name: str
    category: str
    risk_level: str
    org_unit_id: uuid.UUID
    social_worker_id: uuid.UUID
    social_worker_name: str
    last_visit_at: datetime | None
    next_visit_due: date
    days_overdue: int


async def overdue_visits_report(*, user: User, today: date) -> list[OverdueRow]:
    """Open cases in the caller's scope whose next visit is overdue, longest overdue first."""
    require_report_role(user)
    qs = await visible_clients(user=user, today=today)
    clients = (
        await qs.filter(
            social_worker_id__isnull=False, status=CaseStatus.open, visit_due_on__lt=today
        )
        .order_by("visit_due_on", "full_name")
        .limit(5000)
    )
    names = dict(
        await User.filter(id__in=list({c.social_worker_id for c in clients})).values_list(
            "id", "full_name"
        )
    )
    await audit_list_read(clients=clients)
    rows: list[OverdueRow] = []
    for c in clients:
        assert c.social_worker_id is not None and c.visit_due_on is not None
        rows.append(
            OverdueRow(
                client_id=c.id,
                full_name=c.full_name,
                category=c.category.value,
                risk_level=c.risk_level.value,
                org_unit_id=c.org_unit_id,
                social_worker_id=c.social_worker_id,
                social_worker_name=str(names.get(c.social_worker_id, "")),
                last_visit_at=c.last_visit_at,
                next_visit_due=c.visit_due_on,
                days_overdue=(today - c.visit_due_on).days,
            )
        )
    return rows


@dataclass(frozen=True)
class TeamYear:
    """The six-ones completion of one team over a year."""

    team_id: uuid.UUID
    team_name: str
    total: int
    done: int
    overdue: int
    open: int
    tasks: list[TaskView]


async def sixones_report(*, user: User, year: int, today: date, tz: ZoneInfo) -> list[TeamYear]:
    """Completion of every task of every team in scope for a calendar year."""
    require_report_role(user)
    teams = await visible_teams(user).order_by("name", "id")
    tasks = await tasks_for_teams(
        teams=teams, from_on=date(year, 1, 1), to_on=date(year, 12, 31), today=today, tz=tz
    )
    by_team: dict[uuid.UUID, list[TaskView]] = {t.id: [] for t in teams}
    for task in tasks:
        by_team[task.team_id].append(task)
    await audit.record(
        action="read",
        resource_type="report",
        resource_id=None,
        detail={"report": "sixones", "year": year},
    )
    out: list[TeamYear] = []
    for team in teams:
        items = by_team[team.id]
        out.append(
            TeamYear(
                team_id=team.id,
                team_name=team.name,
                total=len(items),
                done=sum(t.status == "done" for t in items),
                overdue=sum(t.status == "overdue" for t in items),
                open=sum(t.status == "open" for t in items),
                tasks=items,
            )
        )
    return out


def to_csv(*, header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A report table as an Excel-friendly CSV (see services/spreadsheet.py)."""
    return excel_csv(rows=[header, *rows])


# --- worker jobs and reminder sources -------------------------------------------------------


class _Supervisors:
    """Supervisors per org path, looked up once per job run."""

    def __init__(self) -> None:
        self._cache: dict[str, list[User]] = {}

    async def of(self, org_path: str) -> list[User]:
        if org_path not in self._cache:
            self._cache[org_path] = await supervisors_for(org_path=org_path)
        return self._cache[org_path]


@job("social.overdue_visits", every_s=900)
async def alert_overdue_visits(now: datetime) -> str:
    """Alert the worker and the supervisors once per open case and due date of an overdue visit."""
    today = local_today(now=now, tz=get_settings().tz)
    clients = await Client.filter(
        social_worker_id__isnull=False, status=CaseStatus.open, visit_due_on__lt=today
    )
    keys = {c.id: f"{c.id}:{c.visit_due_on}" for c in clients}
    raised = await alerts.raised_keys(kind="overdue_visit", dedup_keys=list(keys.values()))
    todo = [c for c in clients if keys[c.id] not in raised]
    units = {u.id: u for u in await OrgUnit.filter(id__in=list({c.org_unit_id for c in todo}))}
    supervisors = _Supervisors()
    count = 0
    for c in todo:
        assert c.social_worker_id is not None
        recipients: list[User | uuid.UUID] = [c.social_worker_id, *await supervisors.of(c.org_path)]
        alert = await alerts.raise_alert(
            kind="overdue_visit",
            subject_type="client",
            subject_id=c.id,
            org_unit=units[c.org_unit_id],
            recipients=recipients,
            title=f"走访逾期：{CATEGORY_NAMES_ZH[c.category]}，应于 {c.visit_due_on} 前走访",
            dedup_key=keys[c.id],
            detail={
                "client_id": str(c.id),
                "due_on": str(c.visit_due_on),
                "risk_level": c.risk_level.value,
            },
            occurred_at=now,
        )
        count += alert is not None
    return f"{count} overdue visits alerted"


@job("social.overdue_tasks", every_s=900)
async def alert_overdue_tasks(now: datetime) -> str:
    """Alert a team's lead and supervisors once per six-ones task left undone past its due date."""
    today = local_today(now=now, tz=get_settings().tz)
    teams = await Team.all()
    pairs = [
        (t, p)
        for t in teams
        for p in _team_periods(
            t,
            from_on=today - timedelta(days=OVERDUE_TASK_LOOKBACK_DAYS),
            to_on=today - timedelta(days=1),
        )
    ]
    rows = await materialise(pairs)
    undone = [r for r in rows.values() if r.completed_at is None]
    raised = await alerts.raised_keys(kind="overdue_task", dedup_keys=[str(r.id) for r in undone])
    team_by_id = {t.id: t for t in teams}
    units = {u.id: u for u in await OrgUnit.filter(id__in=list({t.org_unit_id for t in teams}))}  # type: ignore[attr-defined]
    supervisors = _Supervisors()
    count = 0
    for row in sorted(undone, key=lambda r: (r.due_on, r.kind)):
        if str(row.id) in raised:
            continue
        team = team_by_id[row.team_id]
        name = KIND_NAMES_ZH[TaskKind(row.kind)]
        alert = await alerts.raise_alert(
            kind="overdue_task",
            subject_type="team_task",
            subject_id=row.id,
            org_unit=units[team.org_unit_id],  # type: ignore[attr-defined]
            recipients=[team.lead_id, *await supervisors.of(team.org_path)],  # type: ignore[attr-defined]
            title=f"{team.name}：{name}（{row.period}）已逾期",
            dedup_key=str(row.id),
            detail={
                "team_id": str(team.id),
                "kind": row.kind,
                "period": row.period,
                "due_on": str(row.due_on),
            },
            occurred_at=now,
        )
        count += alert is not None
    return f"{count} overdue tasks alerted"


@notice_source("social.sixones_tasks")
async def sixones_task_notices(now: datetime) -> list[Notice]:
    """Remind each team of a task 7 days and 1 day before its due date (until it is done)."""
    today = local_today(now=now, tz=get_settings().tz)
    teams = await Team.all()
    pairs = [
        (t, p)
        for t in teams
        for p in _team_periods(t, from_on=today, to_on=today + timedelta(days=7))
    ]
    if not pairs:
        return []
    ids = [task_id(team_id=t.id, kind=p.kind.value, period=p.period) for t, p in pairs]
    done = set(
        await TeamTask.filter(id__in=ids, completed_at__isnull=False).values_list("id", flat=True)
    )
    members: dict[uuid.UUID, set[uuid.UUID]] = {t.id: {t.lead_id} for t in teams}  # type: ignore[attr-defined]
    for team_id_, user_id in await TeamMember.filter(team_id__in=list(members)).values_list(
        "team_id", "user_id"
    ):
        members[team_id_].add(user_id)
    notices: list[Notice] = []
    for (team, period), tid in zip(pairs, ids, strict=True):
        if tid in done:
            continue
        days_left = (period.due_on - today).days
        # Sent on the day, or late (a worker that was down), never after the next reminder is due.
        lead = "7d" if 1 < days_left <= 7 else "1d" if 0 <= days_left <= 1 else None
        if lead is None:
            continue
        name = KIND_NAMES_ZH[period.kind]
        notices.append(
            Notice(
                user_ids=tuple(sorted(members[team.id], key=str)),
                title=f"六个一提醒：{name}",
                body=f"{team.name} {name}（{period.period}）应于 {period.due_on} 前完成",
                cause_key=f"task:{tid}:{lead}",
                data={"type": "team_task", "id": str(tid), "team_id": str(team.id)},
                collapse_key=f"task:{tid}",
            )
        )
    return notices


@notice_source("social.visits_due")
async def visit_due_notices(now: datetime) -> list[Notice]:
    """Remind a worker of each open case with a visit due today or tomorrow (no names in pushes)."""
    today = local_today(now=now, tz=get_settings().tz)
    clients = await Client.filter(
        social_worker_id__isnull=False,
        status=CaseStatus.open,
        visit_due_on__gte=today,
        visit_due_on__lte=today + timedelta(days=1),
    )
    out: list[Notice] = []
    for c in clients:
        assert c.social_worker_id is not None
        out.append(
            Notice(
                user_ids=(c.social_worker_id,),
                title="走访提醒",
                body=f"一位{CATEGORY_NAMES_ZH[c.category]}应于 {c.visit_due_on} 前走访",
                cause_key=f"visit:{c.id}:{c.visit_due_on}",
                data={"type": "client", "id": str(c.id)},
                collapse_key=f"visit:{c.id}",
            )
        )
    return out
