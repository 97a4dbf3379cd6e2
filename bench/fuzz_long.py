"""A long fuzzing run: the stateless fuzz (every operation) and the stateful, link-following
fuzz, with many more examples than CI, against a real uvicorn server (SQLite, or PostgreSQL
when GRASSROOTS_TEST_DATABASE_URL is set).

    python bench/fuzz_long.py [--examples 200] [--scenarios 500] [--steps 20]

Prints the figures and exits non-zero on any failure. Deterministic: the same numbers give the
same cases (Hypothesis derandomize), so a failure found here reproduces.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="examples per operation")
    parser.add_argument("--scenarios", type=int, default=500, help="stateful scenarios")
    parser.add_argument("--steps", type=int, default=20, help="steps per stateful scenario")
    args = parser.parse_args()
    env = dict(os.environ) | {
        "GRASSROOTS_FUZZ_EXAMPLES": str(args.examples),
        "GRASSROOTS_FUZZ_SCENARIOS": str(args.scenarios),
        "GRASSROOTS_FUZZ_STEPS": str(args.steps),
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-s", "-p", "no:randomly"],
        cwd=ROOT,
        env=env,
    )
    took = time.monotonic() - started
    verdict = "PASS" if result.returncode == 0 else "FAIL"
    print(
        f"fuzz_long: {args.examples} examples per operation (admin and patrol), "
        f"{args.scenarios} stateful scenarios x {args.steps} steps, {took:.0f} s: {verdict}"
    )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
