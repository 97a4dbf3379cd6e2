"""Visits (走访): recorded once per client-made id, checked against the client's home."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from geo.measure import haversine_m
from grassroots import clock
from grassroots.errors import Conflict, Invalid
from grassroots.settings import Settings
from models.org import User
from models.social import (
    CaseStatus,
    Client,
    Visit,
    VisitKind,
)
from services import alerts, audit
from services.idempotency import create_once
from services.social import (
    access,
    messages,  # noqa: F401  (registers the codes raised here)
)
from services.social.cadence import FUTURE_SLACK, local_today, visit_due_on

HOME_RADIUS_M: Final = 200.0
MAX_ACCURACY_M: Final = 100.0


def haversine(*, lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in meters between two points."""
    return float(haversine_m(lon1=lon1, lat1=lat1, lon2=lon2, lat2=lat2))


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
    """Store a visit once per client-made id; the worker's moves the client's next due date.

    A closed case takes no new visit (409 `case_closed`); a replay of one stored before it was
    closed still answers with the stored visit.
    """
    now = now or clock.now()
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
        counts = await access.visit_counts_for_cadence(
            user=user, client=client, today=local_today(now=now, tz=settings.tz)
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
            if (
                counts
                and fresh is not None
                and (fresh.last_visit_at is None or fresh.last_visit_at < occurred_at)
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
                if due is not None and due >= local_today(now=now, tz=settings.tz):
                    # The cause is fixed: the overdue alert closes for the worker and supervisors.
                    await alerts.resolve_cause(kind="overdue_visit", subject_id=client.id)
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
