"""Dependencies every router uses: settings, the signed-in user, roles and scoped loading."""

from __future__ import annotations

import hmac
import inspect
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer

from grassroots.errors import NotFound, Unauthorized
from grassroots.settings import Settings, get_settings
from models.org import User
from services import user_cache
from services.context import Actor, current_actor
from services.scope import Access, is_admin, require_role
from services.security import read_access_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def _settings() -> Settings:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread on every request.
    return get_settings()


SettingsDep = Annotated[Settings, Depends(_settings)]


def client_address(request: Request) -> str:
    """The client's address: the peer, or what a trusted proxy forwarded
    (api.middleware.ClientAddressMiddleware, GRASSROOTS_TRUSTED_PROXIES)."""
    return request.client.host if request.client else "unknown"


async def current_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    """The active user behind the bearer token, else 401.

    Every route of the authenticated routers carries it as a route dependency (api/app.py), so
    FastAPI runs it before any other dependency of the route; the user dependencies below read
    what it signed in instead of depending on it again.
    """
    # Settings read directly, not as a dependency: every request passes here, and each
    # dependency costs FastAPI a resolution step.
    settings = get_settings()
    if not token:
        raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
    claims = read_access_token(token=token, settings=settings)
    if claims is None:
        raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
    user = await user_cache.active_user(claims.user_id, ttl_s=settings.user_cache_s)
    # A token older than the user's last password change or deactivation is dead.
    if user is None or user.token_version != claims.token_version:
        raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
    current_actor.set(Actor(user_id=user.id, address=client_address(request)))
    request.state.user = user
    return user


def signed_in_user(request: Request) -> User:
    """The user `current_user` signed in for this request; 401 when it has not run.

    FastAPI resolves a dependency's own dependencies again at every use, even when the value is
    cached: a role check or loader that depended on `current_user` cost two resolution steps
    more per request (~10 % of a check-in's dependency work, bench/b7_stack_cost.py). They take
    the request instead and read the user from it; a route without the route dependency is
    refused, never served anonymously.
    """
    user = getattr(request.state, "user", None)
    if user is None:
        raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
    return user


async def _signed_in(request: Request) -> User:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread.
    return signed_in_user(request)


CurrentUser = Annotated[User, Depends(_signed_in)]


def roles(*allowed: str) -> Callable[[Request], Awaitable[User]]:
    """A dependency that answers 403 unless the caller holds one of `allowed`."""

    async def check(request: Request) -> User:
        user = signed_in_user(request)
        require_role(user, allowed)
        return user

    return check


def _words(class_name: str) -> str:
    """'LeaveRequest' -> 'leave request', for parameter descriptions."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", class_name).lower()


def loader(access: Access, *, param: str = "id") -> Callable[..., Awaitable[Any]]:
    """Load `access.model` by the path parameter, with role (403) and scope (404) checks.

    The dependency declares `param` itself, so every operation that loads by it documents the
    parameter and no handler has to. It is declared as a UUID string but read as plain text: a
    malformed id answers 404 like an unknown one (never 422), after the role has had its say.
    """

    async def load(request: Request, **path: str) -> Any:
        user = signed_in_user(request)
        try:
            object_id = uuid.UUID(path[param])
        except ValueError:
            # Not a UUID at all: nothing can exist there, but the role still decides first.
            require_role(user, access.roles)
            raise NotFound() from None
        return await access.get(user, object_id)

    # FastAPI reads the parameters from the signature; `**path` lets `param` be any name.
    id_param = Annotated[
        str,
        Path(
            title=param.replace("_", " ").title(),
            description=f"The {_words(access.model.__name__)}'s id (a UUID).",
            json_schema_extra={"format": "uuid"},
        ),
    ]
    load.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
            inspect.Parameter(param, inspect.Parameter.KEYWORD_ONLY, annotation=id_param),
        ]
    )
    return load


async def metrics_reader(token: Annotated[str | None, Depends(oauth2_scheme)]) -> None:
    """Pass GRASSROOTS_METRICS_TOKEN (Prometheus) or an admin's access token, else 401."""
    settings = get_settings()
    expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return
    if token:
        claims = read_access_token(token=token, settings=settings)
        if claims is not None:
            user = await user_cache.active_user(claims.user_id, ttl_s=settings.user_cache_s)
            if user is not None and user.token_version == claims.token_version and is_admin(user):
                return
    # The same 401 for every refusal, a signed-in non-admin included: /metrics is not an API
    # resource a role may be refused, it is open to two credentials only.
    raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
