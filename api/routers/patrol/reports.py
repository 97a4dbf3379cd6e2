"""Supervisors' views of a zone: the day report (JSON or CSV) and live positions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.responses import csv_response, csv_responses
from api.routers.patrol.dependencies import ManagedZone
from api.routers.patrol.schemas import (
    CheckpointTallyPublic,
    IncidentPublic,
    PositionPublic,
    ZoneReportPublic,
)
from api.schemas import DateInput
from services.patrol import reports

router = APIRouter()


@router.get(
    "/zones/{id}/report",
    operation_id="zone_report",
    responses=csv_responses("The report as JSON, or CSV (UTF-8 with BOM) with ?format=csv"),
)
async def zone_report(
    zone: ManagedZone,
    day: Annotated[DateInput, Query(alias="date", description="Local date YYYY-MM-DD")],
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """A zone's local day: rounds, time on patrol, coverage, checkpoint tallies, incidents."""
    report = await reports.zone_report(zone=zone, day=day)
    if format == "csv":
        return csv_response(
            reports.report_csv(report), filename=f"zone-report-{day.isoformat()}.csv"
        )
    return ZoneReportPublic(
        zone_id=zone.id,
        date=day,
        rounds=report.rounds,
        patrol_seconds=report.patrol_seconds,
        coverage_ratio=report.coverage_ratio,
        checkpoints=[CheckpointTallyPublic.model_validate(t) for t in report.checkpoints],
        incidents=[IncidentPublic.model_validate(i) for i in report.incidents],
    )


@router.get("/zones/{id}/positions", operation_id="zone_positions")
async def zone_positions(zone: ManagedZone) -> list[PositionPublic]:
    """The latest position of each active round in a zone I manage (audited)."""
    return [PositionPublic.model_validate(p) for p in await reports.zone_positions(zone=zone)]
