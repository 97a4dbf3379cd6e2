"""Health and readiness (public) and metrics (a bearer token), outside /api/v1."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import metrics_reader
from api.problems import problem_for
from grassroots import db
from services.jobs import render_rows_failed

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz", operation_id="readyz", responses={503: {"description": "Database unreachable"}}
)
async def readyz(request: Request) -> JSONResponse:
    """The database answers."""
    if await db.ping():
        return JSONResponse({"status": "ok", "database": "ok"})
    return problem_for(request.headers, status=503, code="database_unavailable")


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=PlainTextResponse,
    dependencies=[Depends(metrics_reader)],
    responses={401: {"description": "Neither GRASSROOTS_METRICS_TOKEN nor an admin's token"}},
)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text: request counts and latencies per route, rows skipped by jobs
    (GRASSROOTS_METRICS_TOKEN or an admin's access token as the bearer token)."""
    return PlainTextResponse(
        request.app.state.metrics.render() + render_rows_failed(),
        media_type="text/plain; version=0.0.4",
    )
