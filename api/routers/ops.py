"""Health, readiness and metrics (public, outside /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from api.problems import problem_for
from grassroots import clock, db
from grassroots import metrics as metrics_registry
from notifications import outbox

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


@router.get("/metrics", operation_id="metrics", response_class=PlainTextResponse)
async def metrics() -> Response:
    """Prometheus text: requests, event-loop lag, jobs, outbox, deliveries, pool and process."""
    await outbox.export_metrics(now=clock.now())
    metrics_registry.export_pool(db.pool_figures())
    body, content_type = metrics_registry.render()
    return Response(body, media_type=content_type)
