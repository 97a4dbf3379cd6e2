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


def test_prefix_routes_answer_as_api_routes_do():
    """A `PrefixRoute` (api/flat_routes.py) matches exactly as `APIRoute.matches` would, for
    every route of the app against every route's path (parameters filled in, with and without a
    trailing slash, a root path, an unknown tail), so refusing by the literal start changes no
    routing decision."""
    import re

    from fastapi.routing import APIRoute
    from starlette.routing import Match

    from api.flat_routes import PrefixRoute

    routes = list(create_app(Settings(), manage_db=False).router.routes)
    prefixed = [r for r in routes if isinstance(r, PrefixRoute)]
    assert len(prefixed) > 70, len(prefixed)  # the API's routes, not only the docs pages
    uuid = "0b8e8a5e-7d1b-4c39-9c55-4e8a3f6c9d21"
    paths = {"/", "/api", "/api/v1", "/api/v1/", "/api/v1/me", "/healthz/x", "/apix/v1/me"}
    for route in routes:
        filled = re.sub(r"{[^}]*}", uuid, route.path)
        paths |= {filled, filled + "/", filled + "/tail", filled[:-1], route.path}
    outcomes: dict[Match, int] = {}
    for route in prefixed:
        for path in sorted(paths):
            for root_path in ("", "/gateway"):
                for method in sorted(route.methods) + ["PATCH"]:
                    scope = {
                        "type": "http",
                        "method": method,
                        "path": root_path + path,
                        "root_path": root_path,
                        "path_params": {},
                    }
                    got = route.matches(dict(scope))
                    want = APIRoute.matches(route, dict(scope))
                    assert got == want, (route.path, path, root_path, method)
                    outcomes[got[0]] = outcomes.get(got[0], 0) + 1
    # Every kind of answer was compared, not only refusals.
    assert outcomes.get(Match.FULL, 0) > 70 and outcomes.get(Match.PARTIAL, 0) > 70, outcomes
    assert outcomes[Match.NONE] > 10_000, outcomes


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
