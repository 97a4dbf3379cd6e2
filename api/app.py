"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from tortoise.contrib.fastapi import RegisterTortoise

from api import links, problems
from api.deps import current_user
from api.flat_routes import include_flat
from api.middleware import (
    BodyLimitMiddleware,
    CleanTextMiddleware,
    ClientAddressMiddleware,
    MetricsMiddleware,
    parse_trusted_proxies,
)
from api.routers import (
    admin,
    alerts,
    audit,
    auth,
    correction,
    me,
    notifications,
    ops,
    patrol,
    privacy,
    social,
)
from grassroots import db, loop_lag, metrics
from grassroots.settings import Settings, get_settings
from services import group_commit
from services import worker as background_worker

log = logging.getLogger("grassroots.api")

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).parent / "static"

# Routers that need a signed-in user; each capability adds its router here. Routing tries every
# route in order, so the routers of the phones' hot paths (check-ins, track points, caseloads
# and tasks) come first; no two routers share a path and method, so the order changes nothing else.
AUTHENTICATED_ROUTERS: list[APIRouter] = [
    correction.router,
    patrol.router,
    social.router,
    me.router,
    notifications.router,
    alerts.router,
    admin.router,
    audit.router,
    privacy.router,
]
# The few public routers, on purpose: signing in and operations probes.
PUBLIC_ROUTERS: list[APIRouter] = [auth.router]

DESCRIPTION = (
    "The API behind the field apps of Nantong's grassroots teams (patrol, social work, community "
    "correction check-in) and the scheduler console. Every endpoint but `/api/v1/auth/*` and the "
    "operations probes takes `Authorization: Bearer <access_token>`; every error is RFC 9457 "
    "`application/problem+json` with a stable `code`; an object that does not exist or lies "
    "outside the caller's scope is a 404. The human-readable contract is `docs/API.md` in the "
    "repository."
)
CONTACT = {"name": "grassroots API maintainers (issues in the grassroots repository)"}
# Relative: the document is valid wherever it is served; clients set their own base URL.
SERVERS = [{"url": "/", "description": "The server that serves this document"}]
# One entry per tag the routers use, in the order the docs show them; a test checks that the
# tags declared here and the tags in use are the same set.
TAGS: list[dict[str, str]] = [
    {"name": "auth", "description": "Signing in and refreshing tokens (public)."},
    {"name": "me", "description": "The signed-in user's profile and roles."},
    {"name": "patrol", "description": "Zones, checkpoints, shifts, rounds, track points, reports."},
    {"name": "social", "description": "Clients, caseloads, home visits, teams and the six-ones."},
    {
        "name": "correction",
        "description": "Supervisions, check-ins, leave requests and compliance.",
    },
    {
        "name": "notifications",
        "description": "Devices, the inbox, reminder campaigns and their deliveries.",
    },
    {"name": "alerts", "description": "Missed checkpoints, zone exits, overdue work, violations."},
    {"name": "admin", "description": "Org units, users and their roles."},
    {"name": "privacy", "description": "A data subject's export and erasure (admin)."},
    {"name": "audit", "description": "Who read or changed what, and when."},
    {"name": "operations", "description": "Health, readiness and metrics probes (public)."},
]


def _settle_heap() -> None:
    """Move the startup heap out of the collector's sight and collect the young less often.

    After start-up the process holds ~10^5 long-lived objects (models, routes, schemas) that
    every full collection would walk again; under load that walk is a pause of several
    milliseconds in the middle of requests (the p99). Freezing them and raising the first
    threshold keeps collections short and rare; cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


# FastAPI 0.165's native OpenTelemetry (`FastAPI(telemetry=...)`), all of it off: this service's
# observability is its own /metrics and JSON logs, and FastAPI 0.136.3 had no such layer. Left on,
# every request first asks OpenTelemetry whether a global provider is configured (~6 us of
# the ~40 us of a bare request, bench/b7_stack_cost.py). FastAPI 0.136 keeps the unknown
# keyword in `app.extra`.
NATIVE_TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def _operation_id(route: APIRoute) -> str:
    """Stable operation ids: the handler's name, unique across the app."""
    return route.name


def create_app(
    settings: Settings | None = None,
    *,
    manage_db: bool = True,
    run_worker: bool = False,
    settle_heap: bool = False,
) -> FastAPI:
    """Build the app; `manage_db` registers Tortoise, `run_worker` runs jobs in-process.

    `settle_heap` tunes the garbage collector once started (a served process, not a test).
    """
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(metrics.process_exited)
            if manage_db:
                await stack.enter_async_context(
                    RegisterTortoise(app, config=db.tortoise_config(settings))
                )
            worker_task: asyncio.Task[None] | None = None
            stop = asyncio.Event()
            lag_task = loop_lag.start()
            if run_worker:
                worker_task = asyncio.create_task(
                    background_worker.run_worker(
                        stop=stop, settings=settings, announce=False, beside_api=True
                    )
                )
            if settle_heap:
                _settle_heap()
            try:
                yield
            finally:
                await group_commit.flush_all()
                stop.set()
                if worker_task is not None:
                    await worker_task
                lag_task.cancel()

    app = FastAPI(
        title="grassroots",
        version="1.0.0",
        summary="Patrol rounds, social work, community correction and reminders "
        "for Nantong's grassroots teams.",
        description=DESCRIPTION,
        contact=CONTACT,
        servers=SERVERS,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        generate_unique_id_function=_operation_id,
        telemetry=NATIVE_TELEMETRY_OFF,
    )
    app.state.settings = settings
    problems.install(app)

    # The probes first: a load balancer and Prometheus call them every few seconds, and routing
    # tries routes in order at about 3 us each; behind the ~95 API routes /healthz cost 380 us
    # in routing alone, in front of them the three probes add ~10 us to every other request.
    # Route by route into the app's own router (api/flat_routes.py): from FastAPI 0.137 on,
    # include_router would keep each router whole and walk it lazily on every request.
    include_flat(app.router, ops.router)
    for router in PUBLIC_ROUTERS:
        include_flat(app.router, router, prefix=API_PREFIX)
    for router in AUTHENTICATED_ROUTERS:
        include_flat(app.router, router, prefix=API_PREFIX, dependencies=[Depends(current_user)])

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="grassroots API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

    original_openapi = app.openapi

    def openapi_with_problems() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = links.add_links(problems.document_problems(original_openapi()))
        return app.openapi_schema

    app.openapi = openapi_with_problems  # type: ignore[method-assign]

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CleanTextMiddleware)
    app.add_middleware(MetricsMiddleware)
    # Outermost: everything inside sees the client address that GRASSROOTS_TRUSTED_PROXIES
    # allows. Parsed here so that a malformed setting stops the start, not a request.
    app.add_middleware(
        ClientAddressMiddleware, trusted=parse_trusted_proxies(settings.trusted_proxies)
    )
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory api.app:create_app_from_env` (several API processes)."""
    import os

    from grassroots.logs import configure

    settings = get_settings()
    configure(settings.log_level)
    settings.prepare_secrets()
    return create_app(
        settings,
        run_worker=os.environ.get("GRASSROOTS_INPROCESS_WORKER") == "1",
        settle_heap=True,
    )
