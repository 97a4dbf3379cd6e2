"""The user dependencies read the user that the route dependency `current_user` signed in: on a
route without it they refuse (401), they never serve an anonymous caller."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from api import problems
from api.deps import CurrentUser, current_user, loader, roles
from models.org import Role
from services.correction import access


def _app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/role-only")
    async def role_only(user: Any = Depends(roles(Role.admin))) -> dict[str, str]:
        return {"user": str(user.id)}

    @app.get("/user-only")
    async def user_only(user: CurrentUser) -> dict[str, str]:
        return {"user": str(user.id)}

    @app.get("/loaded/{id}")
    async def loaded(item: Any = Depends(loader(access.SUPERVISION_ACCESS))) -> dict[str, str]:
        return {"item": str(item.id)}

    @app.get("/signed-in", dependencies=[Depends(current_user)])
    async def signed_in(user: CurrentUser) -> dict[str, str]:
        return {"user": str(user.id)}

    return app


@pytest.mark.parametrize(
    "path", ["/role-only", "/user-only", "/loaded/6f9619ff-8b86-4011-b42d-00c04fc964ff"]
)
async def test_a_user_dependency_without_the_sign_in_refuses(path: str) -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        # A bearer token is sent, but nothing on the route checks it: nobody is signed in.
        response = await client.get(path, headers={"Authorization": "Bearer not-checked"})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_sign_in_route_dependency_still_refuses_a_bad_token() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/signed-in", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401, response.text


def _calls(dependant: Any) -> list[Any]:
    """Every dependency call in the tree, as FastAPI resolves it (repeats included)."""
    found = []
    for sub in dependant.dependencies:
        found.append(sub.call)
        found.extend(_calls(sub))
    return found


def test_every_authenticated_route_resolves_the_sign_in_once() -> None:
    # FastAPI resolves a cached dependency's own dependencies again at every use: a role check
    # or loader that depended on current_user made each request resolve it (and the token
    # scheme under it) twice.
    from fastapi.routing import APIRoute

    from api.app import create_app

    routes = [r for r in create_app(manage_db=False).routes if isinstance(r, APIRoute)]
    signed = [r for r in routes if current_user in _calls(r.dependant)]
    assert len(signed) > 90
    for route in signed:
        assert _calls(route.dependant).count(current_user) == 1, route.path
