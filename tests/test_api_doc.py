"""docs/API.md, the human-readable contract, names exactly the operations the spec has.

Every operation of openapi/openapi.json has one heading ``#### `METHOD /path` `` there; every
`` `METHOD /path` `` named anywhere else in it exists in the spec, except in the section of names
pinned but not yet served, which must stay absent from the spec. Settings and subcommands too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from grassroots.cli import build_parser
from grassroots.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "API.md"
SPEC = ROOT / "openapi" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
PENDING_SECTION = "## Pinned, not yet served"

# An operation as written in the document: `METHOD /path` inside backticks.
OPERATION = re.compile(r"`(GET|PUT|POST|DELETE|PATCH|OPTIONS|HEAD|TRACE) (/[^`\s]*)`")
HEADING = re.compile(r"^#### `(GET|PUT|POST|DELETE|PATCH|OPTIONS|HEAD|TRACE) (/[^`\s]*)`$")


def spec_operations(spec: dict) -> set[str]:
    """'METHOD /path' of every operation in an OpenAPI document."""
    return {
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }


def split_doc(text: str) -> tuple[str, str]:
    """The document without its pending section, and that section (up to the next `## `)."""
    start = text.find(f"\n{PENDING_SECTION}\n")
    if start < 0:
        return text, ""
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end
    return text[:start] + text[end:], text[start:end]


def headings(text: str) -> list[str]:
    """'METHOD /path' of every endpoint heading, in order (duplicates kept)."""
    found = []
    for line in text.splitlines():
        match = HEADING.match(line)
        if match:
            found.append(f"{match.group(1)} {match.group(2)}")
    return found


def mentions(text: str) -> set[str]:
    """'METHOD /path' of every operation named in backticks anywhere in `text`."""
    return {f"{m.group(1)} {m.group(2)}" for m in OPERATION.finditer(text)}


def check(doc: str, spec: dict) -> list[str]:
    """Every way `doc` disagrees with `spec`, as readable lines (empty when they agree)."""
    operations = spec_operations(spec)
    served, pending = split_doc(doc)
    listed = headings(served)
    problems = [f"missing from docs/API.md: {op}" for op in sorted(operations - set(listed))]
    extra = sorted(set(listed) - operations)
    problems += [f"heading for an operation the spec lacks: {op}" for op in extra]
    problems += [f"documented twice: {op}" for op, n in sorted(Counter(listed).items()) if n > 1]
    problems += [f"named but not in the spec: {op}" for op in sorted(mentions(served) - operations)]
    problems += [
        f"listed as not yet served but in the spec (move it to the endpoints): {op}"
        for op in sorted(mentions(pending) & operations)
    ]
    problems += [f"a pending name with a heading: {op}" for op in headings(pending)]
    return problems


def load() -> tuple[str, dict]:
    return DOC.read_text(encoding="utf-8"), json.loads(SPEC.read_text(encoding="utf-8"))


def test_docs_api_md_lists_exactly_the_operations_of_the_spec():
    doc, spec = load()
    assert len(spec_operations(spec)) > 50  # the real spec, not an empty one
    problems = check(doc, spec)
    assert not problems, "\n".join(problems)


def test_check_catches_a_deleted_heading_an_invented_operation_and_a_served_pending_one():
    doc, spec = load()
    target = "#### `GET /api/v1/supervisions/{id}`"
    assert target in doc.splitlines()
    without = "\n".join(line for line in doc.splitlines() if line != target)
    assert check(without, spec) == ["missing from docs/API.md: GET /api/v1/supervisions/{id}"]

    invented = doc.replace(
        "#### `GET /api/v1/me`\n", "#### `GET /api/v1/me`\nSee `GET /api/v1/me/secrets`.\n"
    )
    assert check(invented, spec) == ["named but not in the spec: GET /api/v1/me/secrets"]

    # An operation pinned as not yet served that then appears in the spec must move up.
    pinned = doc.replace(
        "## Pinned, not yet served\n",
        "## Pinned, not yet served\n\n- `POST /api/v1/me/sessions`: pinned.\n",
        1,
    )
    served = json.loads(json.dumps(spec))
    served["paths"]["/api/v1/me/sessions"] = {"post": {"responses": {}}}
    problems = check(pinned, served)
    assert "missing from docs/API.md: POST /api/v1/me/sessions" in problems
    assert (
        "listed as not yet served but in the spec (move it to the endpoints): "
        "POST /api/v1/me/sessions"
    ) in problems


def table_names(text: str, prefix: str) -> set[str]:
    """The first cell of every table row that starts with `prefix` (e.g. "`GRASSROOTS_")."""
    rows = (line for line in text.splitlines() if line.startswith(f"| {prefix}"))
    return {row.split("|")[1].strip() for row in rows}


def test_every_setting_has_a_row_in_the_settings_table():
    doc, _spec = load()
    rows = table_names(doc, "`GRASSROOTS_")
    missing = [
        f"GRASSROOTS_{name.upper()}"
        for name in Settings.model_fields
        if f"`GRASSROOTS_{name.upper()}`" not in rows
    ]
    assert not missing, f"settings without a row in docs/API.md: {missing}"
    unknown = rows - {f"`GRASSROOTS_{name.upper()}`" for name in Settings.model_fields}
    assert not unknown, f"rows for settings that do not exist: {sorted(unknown)}"


def test_every_command_has_a_row_in_the_command_table():
    doc, _spec = load()
    subparsers = next(
        a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction"
    )
    rows = {cell.strip("`").split()[1] for cell in table_names(doc, "`grassroots ")}
    commands = set(subparsers.choices)
    assert rows == commands, f"docs/API.md lists {sorted(rows)}, the CLI has {sorted(commands)}"


def test_the_identity_number_rule_names_the_one_clear_answer():
    doc, spec = load()
    export = "GET /api/v1/admin/clients/{id}/export"
    assert export in spec_operations(spec)
    rule = doc[doc.index("### Identity numbers and phones") :]
    rule = rule[: rule.index("\n### ", 1)]
    assert "masked everywhere" in rule and f"`{export}`" in rule and "in clear" in rule


def test_the_readme_points_to_the_contract_and_only_inside_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/API.md" in readme
    outside = [line for line in readme.splitlines() if "../" in line or "/work/" in line]
    assert not outside, f"README.md points outside the repository: {outside}"
