"""A small, believable Nantong data set for `grassroots serve --demo`.

Each capability adds a step to DEMO_STEPS; a step receives the DemoWorld built so far.
"""

from __future__ import annotations

import importlib
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from grassroots.settings import Settings
from models.org import OrgUnit, Role, User
from services import bootstrap, org
from services.domains import DOMAINS

log = logging.getLogger("grassroots.demo")


@dataclass
class DemoWorld:
    """What the demo steps share: org units and users by short name."""

    settings: Settings
    units: dict[str, OrgUnit] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)


DemoStep = Callable[[DemoWorld], Awaitable[None]]

# Each domain's `demo` module has a `demo_step(world)` coroutine, run in the domains' order after
# the foundation's own.
DEMO_MODULES: list[str] = [f"services.{domain}.demo" for domain in DOMAINS]

# 崇川区 and some of its streets and communities.
UNITS = [
    ("chongchuan", "崇川区", "root"),
    ("hepingqiao", "和平桥街道", "chongchuan"),
    ("chengdong", "城东街道", "chongchuan"),
    ("langshan", "狼山镇街道", "chongchuan"),
    ("xuetian", "学田街道", "chongchuan"),
    ("hepingqiao_a", "濠西社区", "hepingqiao"),
    ("chengdong_a", "城东社区", "chengdong"),
    ("langshan_a", "黄泥山社区", "langshan"),
]

USERS = [
    ("admin", "王建国", [Role.admin], "root"),
    ("supervisor", "陈明", [Role.supervisor], "chongchuan"),
    ("supervisor_hp", "刘芳", [Role.supervisor], "hepingqiao"),
    ("scheduler", "张丽", [Role.scheduler], "chongchuan"),
    ("patrol1", "李强", [Role.patrol], "hepingqiao"),
    ("patrol2", "赵伟", [Role.patrol], "chengdong"),
    ("worker1", "周静", [Role.social_worker], "hepingqiao"),
    ("worker2", "吴敏", [Role.social_worker], "hepingqiao"),
    ("officer", "孙涛", [Role.officer], "hepingqiao"),
    ("subject1", "郑某", [Role.subject], "hepingqiao_a"),
    ("subject2", "钱某", [Role.subject], "chengdong_a"),
]


async def load_if_empty(*, settings: Settings) -> bool:
    """Load the demo set when there are no users; print each user's password once."""
    if await User.all().exists():
        log.info("database is not empty: demo data not loaded")
        return False
    world = DemoWorld(settings=settings)
    world.units["root"] = await bootstrap.root_unit()
    for key, name, parent in UNITS:
        world.units[key] = await org.create_org_unit(
            user=_system_admin(), name=name, parent_id=world.units[parent].id
        )
    for username, full_name, roles, unit in USERS:
        password = settings.demo_password or secrets.token_urlsafe(9)
        world.passwords[username] = password
        world.users[username] = await org.create_user(
            actor=None,
            username=username,
            password=password,
            full_name=full_name,
            phone=None,
            roles=[r.value for r in roles],
            org_unit_id=world.units[unit].id,
            settings=settings,
        )
    for module in DEMO_MODULES:
        step: DemoStep = importlib.import_module(module).demo_step
        await step(world)
    _print_credentials(world)
    return True


def _system_admin() -> User:
    """An in-memory admin for the demo loader's scope checks (never stored)."""
    return User(roles_text=User.encode_roles([Role.admin.value]), org_path="/")


def _print_credentials(world: DemoWorld) -> None:
    lines = ["", "Demo users (passwords are shown this once):"]
    for username, _name, roles, _unit in USERS:
        lines.append(
            f"  {username:<14} {world.passwords[username]:<16} {','.join(r.value for r in roles)}"
        )
    print("\n".join(lines) + "\n", file=sys.stderr)  # noqa: T201 - the operator asked for them
