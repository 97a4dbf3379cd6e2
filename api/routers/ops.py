"""Health, readiness and metrics (public, outside /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.problems import problem_for
from grassroots import db, loop_lag

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
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text: request counts and latencies per route."""
    return PlainTextResponse(
        request.app.state.metrics.render(extra=loop_lag.LAG.gauges()),
        media_type="text/plain; version=0.0.4",
    )
