"""Prints the authorization matrix size and the database-fault figures at the end of the run."""

from __future__ import annotations

import pytest

from tests.trust.authz_table import ROWS, ROWS_OWED
from tests.trust.world import PRINCIPALS, TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.trust.test_db_fault import FIGURES, TIMEOUT_S

    for failure, figure in FIGURES.items():
        terminalreporter.write_line(
            f"database fault ({failure}, timeouts {TIMEOUT_S:g} s): {figure}"
        )
    if not TALLY["cells"]:
        return
    terminalreporter.write_line(
        f"authorization matrix: {len(ROWS)} operations x {len(PRINCIPALS)} principals = "
        f"{len(ROWS) * len(PRINCIPALS)} cells; {TALLY['operations']} operations and "
        f"{TALLY['cells']} cells run, {TALLY['wrong']} wrong; {len(ROWS_OWED)} operations "
        "still owe a row (ROWS_OWED)"
    )
