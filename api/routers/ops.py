"""Health and readiness (public) and metrics (a bearer token), outside /api/v1."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from api.deps import metrics_reader
from api.problems import problem_for
from grassroots import clock, db
from grassroots import metrics as metrics_registry
from notifications import figures
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
async def metrics() -> Response:
    """Prometheus text: requests, event-loop lag, jobs and the rows they skipped, outbox,
    deliveries, pool and process (GRASSROOTS_METRICS_TOKEN or an admin's access token)."""
    await figures.export_metrics(now=clock.now())
    metrics_registry.export_pool(db.pool_figures())
    body, content_type = metrics_registry.render()
    return Response(body + render_rows_failed().encode(), media_type=content_type)
