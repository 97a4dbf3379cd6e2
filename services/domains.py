"""The service's domains, in the order their demo steps build on each other.

Each is a package `services.<domain>` with the same rooms: `access` (scope rules), `jobs` (its
worker jobs and reminder sources, registered on import) and `demo` (its demo step), beside the
modules of its own; its routes live in `api.routers.<domain>`. The job registry and the demo
loader read this one list, so a new domain is added here and nowhere else.
"""

from __future__ import annotations

from typing import Final

DOMAINS: Final = ("patrol", "social", "correction")
