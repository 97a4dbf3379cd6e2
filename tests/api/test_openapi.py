"""The committed OpenAPI document is the app's, with stable ids and tags on every operation."""

from __future__ import annotations

import json

from api.app import create_app
from grassroots.settings import Settings


def current_spec():
    return create_app(Settings(), manage_db=False).openapi()


def test_committed_spec_matches_the_code(repo_root):
    committed = json.loads((repo_root / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(current_spec())), (
        "openapi/openapi.json is stale: run `grassroots export-openapi` and commit it"
    )


def test_every_operation_has_an_id_and_a_tag():
    ids = []
    for path, item in current_spec()["paths"].items():
        for method, op in item.items():
            assert op.get("operationId"), f"{method} {path} has no operationId"
            assert op.get("tags"), f"{method} {path} has no tag"
            ids.append(op["operationId"])
    assert len(ids) == len(set(ids))


def test_authenticated_operations_declare_bearer_auth():
    spec = current_spec()
    # /metrics is not public: it takes GRASSROOTS_METRICS_TOKEN or an admin's bearer token.
    public = {"/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/logout"}
    public |= {"/healthz", "/readyz"}
    for path, item in spec["paths"].items():
        for op in item.values():
            if path in public:
                continue
            assert op.get("security"), f"{path} is not marked as authenticated"


def test_no_two_routes_answer_the_same_path_and_method():
    """The routers' order (hot paths first) can then never change which handler answers."""
    from fastapi.routing import APIRoute

    seen: dict[tuple[str, str], str] = {}
    for route in create_app(Settings(), manage_db=False).routes:
        if isinstance(route, APIRoute):
            for method in route.methods:
                key = (route.path, method)
                assert key not in seen, f"{method} {route.path}: {seen[key]} and {route.name}"
                seen[key] = route.name
    assert len(seen) > 90


def test_the_app_holds_its_routes_flat():
    """Every entry of the app's router is a route of its own (api/flat_routes.py), no included
    router that FastAPI 0.137+ would walk lazily on every request."""
    from starlette.routing import Mount, Route

    routes = create_app(Settings(), manage_db=False).router.routes
    assert routes and all(isinstance(route, Route | Mount) for route in routes), {
        type(route).__name__ for route in routes
    }


def test_include_flat_builds_what_include_router_builds():
    """The same operations, ids, tags, dependencies and responses whichever way the routers
    are put together, on the FastAPI installed (include_router nests, include_flat copies)."""
    from fastapi import APIRouter, Depends, FastAPI

    from api.app import _operation_id
    from api.deps import current_user
    from api.flat_routes import include_flat
    from api.routers import auth, ops
    from api.routers.correction import checkins, compliance, leave, officer, supervisions
    from api.routers.social import care_groups, clients, me, reports, teams, visits

    def build(include) -> dict:
        app = FastAPI(generate_unique_id_function=_operation_id)
        correction = APIRouter(tags=["correction"])
        for module in (supervisions, checkins, leave, compliance, officer):
            include(correction, module.router)
        social = APIRouter()
        for module in (clients, visits, care_groups, me, teams, reports):
            include(social, module.router)
        include(app.router, ops.router)
        include(app.router, auth.router, prefix="/api/v1")
        for router in (correction, social):
            include(app.router, router, prefix="/api/v1", dependencies=[Depends(current_user)])
        return app.openapi()

    def nested(parent, router, **kwargs) -> None:
        parent.include_router(router, **kwargs)

    flat = build(include_flat)
    assert len(flat["paths"]) > 40
    assert json.dumps(flat, sort_keys=False) == json.dumps(build(nested), sort_keys=False)
