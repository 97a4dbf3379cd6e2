"""The house's structure: imports run downwards, no module is over 600 lines, no double ships.

Layers, bottom to top: `grassroots` (settings, db, clock, errors), then `models` and `geo`, then
`notifications`, then `services`, then `api`. A module may import its own layer and those below;
the command line (`grassroots/cli.py`) is the one entry that starts everything, so it may import
any layer. Imports inside functions count: a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RANK = {"grassroots": 0, "models": 1, "geo": 1, "notifications": 2, "services": 3, "api": 4}
ENTRY_POINTS = {Path("grassroots/cli.py")}
MIGRATIONS = Path("models/migrations")
MAX_LINES = 600


def production_modules() -> list[Path]:
    """Every module of the shipped packages, relative to the repository root."""
    return sorted(
        path.relative_to(ROOT)
        for package in RANK
        for path in (ROOT / package).rglob("*.py")
        if ".venv" not in path.parts
    )


def imported_packages(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in `source`, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def upward_imports(module: Path, source: str) -> list[str]:
    """Each import of `module` that reaches a layer above its own, as 'path:line -> package'."""
    if module in ENTRY_POINTS or module.is_relative_to(MIGRATIONS):
        return []
    own = RANK[module.parts[0]]
    return [
        f"{module}:{line} -> {package}"
        for line, package in imported_packages(source)
        if package in RANK and RANK[package] > own
    ]


def test_the_checker_finds_upward_imports_at_module_level_and_inside_functions():
    snippet = (
        "from grassroots import clock\n"
        "import services.jobs\n"
        "def later():\n"
        "    from api.app import create_app\n"
        "    from tortoise.migrations.api import migrate\n"
        "    from . import sibling\n"
    )
    assert upward_imports(Path("notifications/outbox.py"), snippet) == [
        "notifications/outbox.py:2 -> services",
        "notifications/outbox.py:4 -> api",
    ]
    assert upward_imports(Path("models/org.py"), "import notifications.inbox\n") == [
        "models/org.py:1 -> notifications"
    ]
    assert upward_imports(Path("services/org.py"), "from api import deps\n") == [
        "services/org.py:1 -> api"
    ]
    # Downwards and sideways are fine, and so is the command line.
    assert upward_imports(Path("api/app.py"), snippet) == []
    assert upward_imports(Path("geo/track.py"), "from models import patrol\n") == []
    assert upward_imports(Path("grassroots/cli.py"), snippet) == []


def test_no_production_module_imports_a_layer_above_its_own():
    found = [
        upward
        for module in production_modules()
        for upward in upward_imports(module, (ROOT / module).read_text(encoding="utf-8"))
    ]
    assert found == []


def long_modules(lengths: dict[Path, int]) -> list[str]:
    """Modules over MAX_LINES lines, migrations aside, as 'path: n lines'."""
    return [
        f"{module}: {n} lines"
        for module, n in sorted(lengths.items())
        if n > MAX_LINES and not module.is_relative_to(MIGRATIONS)
    ]


def test_the_length_check_flags_long_modules_but_not_migrations():
    lengths = {
        Path("services/big.py"): MAX_LINES + 1,
        Path("services/fits.py"): MAX_LINES,
        Path("models/migrations/0002_capabilities.py"): 5000,
    }
    assert long_modules(lengths) == ["services/big.py: 601 lines"]


def test_no_production_module_is_over_600_lines():
    lengths = {
        module: len((ROOT / module).read_text(encoding="utf-8").splitlines())
        for module in production_modules()
    }
    assert len(lengths) > 100  # the walk found the packages
    assert long_modules(lengths) == []


def test_no_test_double_ships_in_a_production_package():
    doubles = [module for module in production_modules() if module.name.startswith("fake_")]
    assert doubles == []
    # `pip install .` ships exactly the layers: not tests/ (the doubles) nor bench/.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(shipped) == sorted(f"{package}*" for package in RANK)


# Queryset and model methods that read or write the database. A handler under api/routers hands
# the domain function its arguments and shapes the answer; it never calls one of these itself.
ORM_CALLS = frozenset(
    {
        "all", "filter", "exclude", "get", "get_or_none", "create", "bulk_create",
        "get_or_create", "update_or_create", "update", "delete", "save", "count", "exists",
        "first", "values", "values_list", "annotate", "select_for_update", "raw",
    }
)  # fmt: skip


def handler_orm_calls(module: Path, source: str) -> list[str]:
    """Each ORM call in `module` on a model class or on an `Access` object's queryset."""
    tree = ast.parse(source)
    model_names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "models"
        for alias in node.names
    }
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = node.func.value
        # Model.filter(...), Model.all().filter(...): the chain starts at a model class.
        while isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute):
            receiver = receiver.func.value
        if (
            node.func.attr in ORM_CALLS
            and isinstance(receiver, ast.Name)
            and (receiver.id in model_names or receiver.id.endswith("_ACCESS"))
        ):
            found.append(f"{module}:{node.lineno} {receiver.id}.{node.func.attr}")
    return found


def test_the_handler_check_finds_a_query_on_a_model():
    source = (
        "from models.audit import AuditEntry\n"
        "async def list_audit():\n"
        "    return await AuditEntry.all().filter(action='read')\n"
        "def shape(d):\n"
        "    return d.get('x')\n"
        "def users(user):\n"
        "    return USER_ACCESS.queryset(user).filter(deleted_at=None)\n"
    )
    assert sorted(handler_orm_calls(Path("api/routers/x.py"), source)) == [
        "api/routers/x.py:3 AuditEntry.all",
        "api/routers/x.py:3 AuditEntry.filter",
        "api/routers/x.py:7 USER_ACCESS.filter",
    ]


def test_no_handler_runs_an_orm_query_itself():
    routers = [m for m in production_modules() if m.is_relative_to(Path("api/routers"))]
    assert routers
    calls = [c for m in routers for c in handler_orm_calls(m, (ROOT / m).read_text())]
    assert calls == []


def hand_written_subtree_tests(module: Path, source: str) -> list[str]:
    """Each `<path>.startswith(<path>)` outside services/scope.py: an org-subtree test by hand."""
    if module == Path("services/scope.py"):
        return []
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "startswith"
            and node.args
            and not isinstance(node.args[0], ast.Constant)
            and "path" in ast.unparse(node.func.value)
        ):
            found.append(f"{module}:{node.lineno} {ast.unparse(node)}")
    return found


def test_the_subtree_check_finds_a_prefix_test_by_hand():
    source = (
        "def f(a, u):\n    return a.org_path.startswith(u.org_path) or a.name.startswith('x')\n"
    )
    assert hand_written_subtree_tests(Path("services/x.py"), source) == [
        "services/x.py:2 a.org_path.startswith(u.org_path)"
    ]


def test_one_subtree_predicate_services_scope_within():
    modules = [m for m in production_modules() if m.parts[0] in ("api", "services")]
    found = [f for m in modules for f in hand_written_subtree_tests(m, (ROOT / m).read_text())]
    assert found == []


def access_rules_built(source: str) -> list[int]:
    """Lines where `Access(...)` (a resource's access rule) is constructed."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Access"
    ]


def test_access_rules_live_in_services_not_in_routers():
    assert access_rules_built("X = Access(Client, roles=['admin'])\n") == [1]
    routers = [m for m in production_modules() if m.parts[0] == "api"]
    built = {str(m): access_rules_built((ROOT / m).read_text()) for m in routers}
    assert {m: lines for m, lines in built.items() if lines} == {}
