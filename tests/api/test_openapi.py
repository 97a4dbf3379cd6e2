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
