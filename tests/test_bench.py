"""`bench/throughput.py --quick` runs end to end: every measurement it was asked for ends up
in the printed table and in the `--json` file with figures, and the run exits 0.

Speed is never asserted (the machines are shared and noisy; `--quick` exits 0 whether a
target is met or not). The PostgreSQL measurement runs only in the PostgreSQL leg of the
suite (HOOKKIT_TEST_BACKEND=postgres), everything else in the SQLite leg, so CI runs each
part once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRES = os.environ.get("HOOKKIT_TEST_BACKEND", "sqlite") == "postgres"
EVERY = [
    "api",
    "single",
    "single50",
    "batch",
    "batch50",
    "paced",
    "fast",
    "slow",
    "naive",
    "latency",
    "fanout",
    "memory",
    "hanging",
]


def run_quick(tmp_path: Path, *selection: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run the quick benchmark with `selection` arguments; its result and its JSON file."""
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKKIT_")}
    env["HOOKKIT_BENCH_POSTGRES_URL"] = POSTGRES_URL
    script = str(ROOT / "bench" / "throughput.py")
    done = subprocess.run(
        [sys.executable, script, "--quick", "--json", str(out), *selection],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=290,  # the run itself stops at 240 s (QUICK.total_limit)
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(out.read_text())


def check_report(done: subprocess.CompletedProcess[str], report: Any, expected: list[str]) -> None:
    """Every expected measurement has rows with figures, in the JSON and in the table."""
    assert report["failed"] == []
    assert report["meta"]["measurements"] == expected
    assert report["meta"]["mode"] == "quick"
    assert {row["measurement"] for row in report["rows"]} == set(expected)
    table = done.stdout[done.stdout.index("\nmeasurement ") :]
    assert re.search(r"\n-+ +-+ +-+ +-+ +-+ +-+\n", table)
    for row in report["rows"]:
        assert re.search(r"\d", row["value"]), row
        if row["target"]:
            assert re.search(r"\d", row["ratio"] + row["value"]), row
            assert isinstance(row["ok"], bool), row
        assert row["name"] in table
    # The progress bar on stderr counted every measurement.
    assert f"] {len(expected)}/{len(expected)} " in done.stderr


@pytest.mark.timeout(320)
@pytest.mark.skipif(ON_POSTGRES, reason="the SQLite leg runs these; the PostgreSQL leg runs pg")
def test_quick_bench_reports_every_measurement(tmp_path: Path) -> None:
    """`--quick` without the PostgreSQL part prints and writes every measurement's figures."""
    done, report = run_quick(tmp_path, "--skip", "pg")
    check_report(done, report, EVERY)
    names = " ".join(row["name"] for row in report["rows"])
    for label in ("publish API", "single-event", "batch", "publish-to-receipt", "drain"):
        assert label in names


@pytest.mark.postgres
@pytest.mark.timeout(320)
@pytest.mark.skipif(not ON_POSTGRES, reason="runs in the PostgreSQL leg of the suite")
def test_quick_bench_postgres_workers(tmp_path: Path, pg_url: str) -> None:
    """`--quick --only pg` measures 1 and 2 worker processes on PostgreSQL and reports
    exactly-once delivery (pg_url: skips, or fails in CI, when PostgreSQL is unreachable)."""
    done, report = run_quick(tmp_path, "--only", "pg")
    check_report(done, report, ["pg"])
    once = next(row for row in report["rows"] if "exactly once" in row["name"])
    assert once["ok"] is True, once


@pytest.mark.timeout(200)
@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: it runs hookkit in-process on a file")
def test_isolation_bench_compares_a_hanging_host_with_none() -> None:
    """`bench/isolation.py --quick` delivers every healthy message in both scenarios, with
    and without a hanging host, and prints the ratios (never judged: speed is not asserted)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKKIT_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "isolation.py"), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    received = re.findall(r"(\d+)/(\d+) received", out)
    assert len(received) == 2 and all(got == want for got, want in received), out
    assert re.search(r"ratio hanging/baseline p95: \d+\.\d\d", out), out
    backlog = re.findall(r"all (\d+) healthy deliveries in (\d+) ms", out)
    assert [int(got) for got, _ in backlog] == [270, 270], out
    assert re.search(r"2\. backlog.*\n.*\n.*\n   ratio hanging/baseline: \d", out), out
