"""OpenAPI links: which answer feeds which next request (create -> read -> update).

Clients and the stateful fuzzer (tests/fuzz/test_stateful.py) follow them: schemathesis creates
an object, then reads and changes the very object it created instead of guessing ids. Each
capability adds its rows to LINKS; a link naming an unknown operation fails at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Link:
    """After a 2xx answer of `source`, `target` can be called with `parameters` from it."""

    source: str
    target: str
    parameters: dict[str, str]


NEW_ID = {"id": "$response.body#/id"}

LINKS: list[Link] = [
    Link("create_org_unit", "get_org_unit", NEW_ID),
    Link("create_org_unit", "list_org_units", {"parent_id": "$response.body#/id"}),
    Link("create_user", "get_user", NEW_ID),
    Link("create_user", "update_user", NEW_ID),
    Link("update_user", "get_user", NEW_ID),
]


def add_links(spec: dict[str, Any], links: list[Link] = LINKS) -> dict[str, Any]:
    """Write each link into its source operation's first 2xx response."""
    operations = {
        op["operationId"]: op
        for item in spec.get("paths", {}).values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    for link in links:
        missing = {link.source, link.target} - set(operations)
        if missing:
            raise ValueError(f"OpenAPI link {link} names unknown operations {sorted(missing)}")
        responses = operations[link.source]["responses"]
        success = min(code for code in responses if code.startswith("2"))
        responses[success].setdefault("links", {})[link.target] = {
            "operationId": link.target,
            "parameters": dict(link.parameters),
        }
    return spec
