"""Prints the size of the authorization matrix at the end of the run."""

from __future__ import annotations

import pytest

from tests.trust.authz_table import ROWS
from tests.trust.world import PRINCIPALS, TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY["cells"]:
        return
    terminalreporter.write_line(
        f"authorization matrix: {len(ROWS)} operations x {len(PRINCIPALS)} principals = "
        f"{len(ROWS) * len(PRINCIPALS)} cells; {TALLY['operations']} operations and "
        f"{TALLY['cells']} cells run, {TALLY['wrong']} wrong"
    )
