"""How routes declare and build their non-JSON answers, in one place.

Problem answers need no declaration per route: `api.problems.document_problems` adds the
problem+json responses to every operation of the spec. A route that can also answer CSV declares
`csv_responses(...)` and returns `csv_response(...)`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def csv_responses(description: str | None = None) -> dict[int | str, dict[str, Any]]:
    """The 200 entry of a route that answers CSV (alone or besides JSON)."""
    entry: dict[str, Any] = {"content": {"text/csv": {"schema": {"type": "string"}}}}
    if description:
        entry["description"] = description
    return {200: entry}


def csv_response(content: str | bytes, *, filename: str) -> Response:
    """A CSV download (the domain writes UTF-8 with a BOM, which Excel needs for Chinese)."""
    return Response(
        content=content,
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
