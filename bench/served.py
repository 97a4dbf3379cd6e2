"""The load side of B2, B3 and B5: wrk on loopback when installed, else bench/load.py.

    run_load(url, scenario, data, connections=32, duration_s=10)

A scenario is what the phones send: `points` (patrol members uploading 500 fresh points a
request to their own rounds, one connection each), `checkins` (correction subjects checking in,
tokens in turn), `get` (a GET with tokens in turn), and the bare ceiling's `bare_get` and
`bare_post`. With wrk the request bodies are built by the Lua scripts of bench/wrk/, with
`--latency` and a 30 s timeout (a stalled answer is measured, not dropped); without wrk by the
factories of bench/load.py. Either way the figures come back as one dict: requests, ok (2xx),
non_2xx, errors (socket errors and timeouts), rps, p50_ms, p99_ms, max_ms and the tool.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

WRK_DIR = Path(__file__).resolve().parent / "wrk"
# The phone-side scenario: (Lua script, bench/load.py factory).
FACTORIES = {
    "points": "bench.served:points_requests",
    "checkins": "bench.b3_checkins:requests",
    "get": "bench.served:get_requests",
    "bare_get": "bench.harness:bare_get",
    "bare_post": "bench.harness:bare_post",
}


def tool(choice: str = "auto") -> str:
    """'wrk' or 'python' (bench/load.py): `auto` takes wrk when it is on PATH."""
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk), use --loadgen python")
    return choice


def add_loadgen_argument(parser: Any) -> None:
    """The benches' common `--loadgen` option."""
    parser.add_argument(
        "--loadgen",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator: wrk when installed (auto), or bench/load.py",
    )


_RUNS = iter(range(1, 1 << 20))


def _wrk_args(scenario: str, data: dict[str, Any], workdir: Path) -> tuple[str, list[str]]:
    """The script and its arguments for one scenario; files go to `workdir`."""
    tokens = workdir / "tokens.txt"
    tokens.write_text("\n".join(data.get("tokens", [])) + "\n")
    if scenario == "points":
        members = workdir / "members.txt"
        members.write_text(
            "".join(f"{t} {r}\n" for t, r in zip(data["tokens"], data["rounds"], strict=True))
        )
        # A run's points start an hour after the previous run's: ids and times never collide.
        run = next(_RUNS)
        start_ms = int((data["start_ts"] + 3600 * run) * 1000)
        return "points.lua", [str(members), str(start_ms), str(run)]
    if scenario == "checkins":
        return "checkins.lua", [str(tokens)]
    if scenario == "get":
        return "get.lua", [str(tokens), data["path"]]
    if scenario == "bare_get":
        return "get.lua", [str(workdir / "none.txt"), "/bare"]
    if scenario == "bare_post":
        body = workdir / "body.json"
        body.write_text(json.dumps(data["body"]))
        return "post.lua", ["/bare", str(body)]
    raise ValueError(scenario)


def _wrk(
    url: str, scenario: str, data: dict[str, Any], *, connections: int, duration_s: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gr-wrk-") as tmp:
        workdir = Path(tmp)
        (workdir / "none.txt").write_text("")
        script, args = _wrk_args(scenario, data, workdir)
        # One thread per connection for uploads (each thread is one member, in order), else one.
        threads = connections if scenario == "points" else 1
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--latency"]
        cmd += ["--timeout", "30s", "-s", str(WRK_DIR / script), url, "--", *args]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    found = re.search(r"^WRKJSON (\{.*\})$", out, re.M)
    if found is None:
        raise RuntimeError(f"wrk printed no figures: {out}")
    raw = json.loads(found[1])
    seconds = raw["duration_us"] / 1e6
    return {
        "tool": "wrk",
        "requests": raw["requests"],
        "ok": raw["ok"],
        "non_2xx": raw["non2xx"],
        "errors": raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        "rps": raw["requests"] / seconds,
        "ok_per_s": raw["ok"] / seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "seconds": seconds,
    }


def _python(
    url: str, scenario: str, data: dict[str, Any], *, connections: int, duration_s: float
) -> dict[str, Any]:
    args = dict(data)
    if scenario == "points":
        args["start_ts"] = data["start_ts"] + 3600 * next(_RUNS)
    figures = harness.load(
        url=url,
        factory=FACTORIES[scenario],
        args=args,
        concurrency=connections,
        duration_s=duration_s,
        warmup_s=0.0,
    )
    return {
        "tool": "bench/load.py",
        "requests": figures["requests"],
        "ok": figures["ok"],
        "non_2xx": figures["requests"] - figures["ok"],
        "errors": len(figures["errors"]),
        "rps": figures["rps"],
        "ok_per_s": figures["ok"] / duration_s,
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "max_ms": figures["max_ms"],
        "seconds": duration_s,
    }


def run_load(
    url: str,
    scenario: str,
    data: dict[str, Any] | None = None,
    *,
    connections: int = 32,
    duration_s: float = 10.0,
    loadgen: str = "auto",
    warmup_s: float = 0.0,
) -> dict[str, Any]:
    """Drive `scenario` against `url` for `duration_s` after a `warmup_s` run; the figures."""
    run = _wrk if tool(loadgen) == "wrk" else _python
    if warmup_s > 0:
        run(url, scenario, data or {}, connections=connections, duration_s=warmup_s)
    return run(url, scenario, data or {}, connections=connections, duration_s=duration_s)


def line(name: str, figures: dict[str, Any]) -> str:
    """One result line."""
    return (
        f"{name:<24} {figures['rps']:>9,.0f} req/s  p50 {figures['p50_ms']:7.1f} ms  "
        f"p99 {figures['p99_ms']:7.1f} ms  max {figures['max_ms']:7.1f} ms  "
        f"non-2xx {figures['non_2xx']}  errors {figures['errors']}  ({figures['tool']})"
    )


def verdicts(
    bench: str,
    figures: dict[str, Any],
    *,
    rate: tuple[str, float],
    activity: harness.WorkerActivity | None,
) -> bool:
    """Print a served bench's verdicts (rate, p99 < 50 ms, no failure) and its overall one.

    `rate` is the figure's name and target, e.g. ("check-ins per second", 1500).
    """
    name, target = rate
    ok = all(
        [
            harness.verdict(f"{bench} {name}", figures["ok_per_s"], target),
            harness.verdict(f"{bench} p99 ms", figures["p99_ms"], 50, higher_is_better=False),
            harness.verdict(
                f"{bench} non-2xx answers and errors",
                figures["non_2xx"] + figures["errors"],
                0,
                higher_is_better=False,
            ),
        ]
    )
    if activity is not None:
        print(f"{bench} measured while the worker judged the round: {activity.judged_during}")
    print(bench, "PASS" if ok else "FAIL")
    return ok


def ceiling(
    scenario: str,
    data: dict[str, Any] | None = None,
    *,
    connections: int,
    duration_s: float,
    loadgen: str,
    workers: int = 1,
) -> dict[str, Any]:
    """The bare FastAPI endpoint (bench/bare_app.py) under the same load, same uvicorn."""
    with harness.serve(
        app="bench.bare_app:app",
        factory=False,
        env=harness.bench_env("sqlite://:memory:"),
        workers=workers,
    ) as server:
        run_load(
            server.url, scenario, data, connections=connections, duration_s=1.0, loadgen=loadgen
        )  # warm-up
        cpu = harness.cpu_seconds(server.process.pid)
        figures = run_load(
            server.url,
            scenario,
            data,
            connections=connections,
            duration_s=duration_s,
            loadgen=loadgen,
        )
        used = harness.cpu_seconds(server.process.pid) - cpu
    figures["cpu_ms_per_request"] = used / max(figures["requests"], 1) * 1000
    print(f"bare endpoint's CPU: {figures['cpu_ms_per_request']:.3f} ms per request", flush=True)
    return figures


# --- bench/load.py factories for the scenarios without their own --------------------------


def get_requests(args: dict[str, Any], n: int):
    """GET args['path'] as token n (in turn over the tokens)."""
    headers = {"Authorization": f"Bearer {args['tokens'][n % len(args['tokens'])]}"}
    return lambda _i: ("GET", args["path"], headers, b"")


def points_requests(args: dict[str, Any], n: int):
    """Connection n uploads 500 fresh points a request to round n, oldest first."""
    from bench.b2_points import _body

    token, round_id, start_ts = args["tokens"][n], args["rounds"][n], args["start_ts"]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    path = f"/api/v1/rounds/{round_id}/points"
    prefix = int(start_ts) % 4096 * 4096 + n
    return lambda i: ("POST", path, headers, _body(prefix, i, start_ts))


# --- the served run: the morning's round, then the measured load while the worker judges it --


def _with_cpu(server: harness.Server, measure: Any) -> Any:
    """Run `measure()` and print the server's CPU time per request it answered.

    With BENCH_PYSPY=FILE (and py-spy installed) the server is sampled meanwhile, every
    thread, into FILE as collapsed stacks (`py-spy record -f raw`).
    """
    profile = os.environ.get("BENCH_PYSPY")
    spy = None
    if profile and shutil.which("py-spy"):
        spy = subprocess.Popen(
            ["py-spy", "record", "-p", str(server.process.pid), "-o", profile, "-f", "raw"]
            + ["-r", "250", "--threads", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    cpu = harness.cpu_seconds(server.process.pid)
    result = measure()
    used = harness.cpu_seconds(server.process.pid) - cpu
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        print(f"py-spy profile of the server during the measurement: {profile}")
    if isinstance(result, dict) and result.get("requests"):
        print(
            f"server CPU during the measurement: {used:.1f} s over {result['seconds']:.1f} s, "
            f"{used / result['requests'] * 1000:.2f} ms per request answered "
            "(worker's work included)",
            flush=True,
        )
    return result


def add_served_arguments(parser: Any) -> None:
    """`--tuned` and `--loadgen`, shared by B2, B3 and B5."""
    parser.add_argument(
        "--tuned",
        action="store_true",
        help="the earlier tuned server (uvicorn, no worker, WARNING logs) instead of "
        "`grassroots serve` as the README starts it",
    )
    add_loadgen_argument(parser)
    parser.add_argument(
        "--round-points",
        type=int,
        default=harness.ROUND_POINTS,
        help="points of the morning's round uploaded before the measurement (0: none)",
    )


def measure_after_morning_round(
    server: harness.Server,
    database_url: str,
    patrol: dict[str, Any],
    *,
    tuned: bool,
    measure: Any,
    warm_up: Any = None,
    round_points: int = harness.ROUND_POINTS,
) -> tuple[Any, harness.WorkerActivity | None]:
    """Warm up, upload the morning's round, then `measure()` while the worker judges it.

    `patrol` is `harness.seed_patrol`'s answer; its first member uploads the round. Returns
    what `measure` returned and what the worker did meanwhile (None on the tuned server).
    The server's CPU time over the measurement is printed per answered request: unlike the
    rates, it hardly moves when other processes load the machine.
    """
    server_url = server.url
    if warm_up is not None:
        warm_up()
    if round_points <= 0:
        print("morning round: none (--round-points 0)")
        return _with_cpu(server, measure), None
    harness.morning_round(
        server_url,
        database_url,
        token=patrol["tokens"][0],
        round_id=patrol["rounds"][0],
        start_ts=patrol["start_ts"],
        worker=not tuned,
        points=round_points,
    )
    before = harness.read_metrics(server_url)
    began = time.time()
    result = _with_cpu(server, measure)
    ended = time.time()
    after = harness.read_metrics(server_url)
    if tuned:
        print("worker during the measurement: none (tuned server, no worker)")
        return result, None
    activity = harness.worker_activity(before, after)
    print(activity.line(), flush=True)
    # The run that began in the window may end after it: its row says when it ran.
    harness.wait_for_job_run_to_end(database_url)
    times = harness.job_times(database_url)
    if times and times.last_started_at and times.last_finished_at:
        overlap = min(ended, times.last_finished_at) - max(began, times.last_started_at)
        print(
            f"  the last {harness.ZONE_EXIT_JOB} run: {times.last_started_at - began:+.1f} s to "
            f"{times.last_finished_at - began:+.1f} s from the start of the measurement "
            f"({ended - began:.1f} s long); overlap {max(overlap, 0):.1f} s"
        )
        activity = dataclasses.replace(
            activity, overlap_s=max(overlap, 0.0), window_s=ended - began
        )
    return result, activity
