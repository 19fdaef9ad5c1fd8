"""hookkit's benchmark: the running service over HTTP (black box) and the delivery engine
in-process, each beside baselines measured in the same run, printed as ratios.

    .venv/bin/python bench/throughput.py [--quick] [--only NAME,...] [--skip NAME,...]
                                         [--json FILE]

The machine is shared and noisy, so every figure is divided by a baseline of the same run:
raw aiohttp posting the same bodies to the same receiver, a bare Flask endpoint on the same
gunicorn settings, a single-subscriber publish, the worker's own starting RSS. See
bench/README.md for what each figure means and the targets.

All traffic goes to 127.0.0.1 (one receiver process, plus the servers and workers the
black-box measurements start); each is killed in a `finally`. Every loop is bounded in count
and in time; the whole run has a hard time limit. `--quick` (CI) never judges speed: it
exits 0 unless a measurement crashed; the full run exits 1 when a target is missed too.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from blackbox import BlackBox
from common import (
    FULL,
    QUICK,
    Plan,
    Receiver,
    Report,
    Stopped,
    machine,
    print_table,
    progress,
    say,
    time_limit,
    write_json,
)
from inprocess import InProcess

log = logging.getLogger("bench")

# name -> (group, what it measures); run in this order.
MEASUREMENTS: dict[str, tuple[str, str]] = {
    "api": ("blackbox", "publish API vs a bare Flask endpoint, requests/s"),
    "single": ("blackbox", "single-event publishes over HTTP, 0 ms receiver"),
    "single50": ("blackbox", "single-event publishes over HTTP, 50 ms receiver, one host"),
    "batch": ("blackbox", "batch publishes of 100 over HTTP, 0 ms receiver"),
    "batch50": ("blackbox", "batch publishes of 100 over HTTP, 50 ms receiver, one host"),
    "paced": ("blackbox", "publish-to-receipt latency at 200 events/s over HTTP"),
    "pg": ("blackbox", "PostgreSQL: 1 vs 2 worker processes, exactly once"),
    "fast": ("inprocess", "in-process backlog drain vs raw clients, 0 ms receiver"),
    "slow": ("inprocess", "in-process backlog drain, 50 ms receiver"),
    "naive": ("inprocess", "naive inline sender (brings `fast` along)"),
    "latency": ("inprocess", "in-process publish-to-receipt latency at 200 events/s"),
    "fanout": ("inprocess", "publish to 1,000 subscriptions"),
    "memory": ("inprocess", "worker memory draining backlogs"),
    "hanging": ("inprocess", "1 of 10 endpoints hanging"),
}


def choose(only: str, skip: str) -> list[str]:
    """The measurements to run, in `MEASUREMENTS` order; ValueError names unknown ones."""
    wanted = [m.strip() for m in only.split(",") if m.strip()] or list(MEASUREMENTS)
    skipped = {m.strip() for m in skip.split(",") if m.strip()}
    unknown = (set(wanted) | skipped) - set(MEASUREMENTS)
    if unknown:
        raise ValueError(f"unknown measurement(s): {', '.join(sorted(unknown))}")
    if "naive" in wanted and "fast" not in wanted and "fast" not in skipped:
        wanted.append("fast")  # naive is compared with hookkit's delivery rate
    return [m for m in MEASUREMENTS if m in wanted and m not in skipped]


def run(plan: Plan, chosen: list[str], report: Report) -> None:
    """Run `chosen` against one receiver; a crash is reported and the next one still runs."""
    rcv: Receiver | None = None
    groups: dict[str, BlackBox | InProcess] = {}
    try:
        with (
            time_limit(plan.total_limit),
            tempfile.TemporaryDirectory(prefix="hookkit-bench-") as tmp,
        ):
            rcv = Receiver(max_seconds=plan.total_limit + 60, hang_seconds=30)
            makers: dict[str, Callable[[], BlackBox | InProcess]] = {
                "blackbox": lambda: BlackBox(plan, rcv, Path(tmp), report),  # type: ignore[arg-type]
                "inprocess": lambda: InProcess(plan, rcv, Path(tmp), report),  # type: ignore[arg-type]
            }
            progress.begin(len(chosen))
            for name in chosen:
                group = MEASUREMENTS[name][0]
                progress.step(name)
                report.current = name
                try:
                    if group not in groups:
                        groups[group] = makers[group]()
                    getattr(groups[group], name)()
                except Exception as exc:  # report it, go on with the next measurement
                    log.exception("measurement %s failed", name)
                    report.failed.append(name)
                    report.notes.append(f"{name} failed: {exc!r}")
                finally:
                    # The black-box server is done: its process must not eat the CPU of
                    # the in-process measurements.
                    if name == last_of(chosen, "blackbox") and "blackbox" in groups:
                        groups.pop("blackbox").close()
            progress.clear()
    except (Stopped, KeyboardInterrupt) as exc:
        report.notes.append(f"stopped early: {exc!r}")
        report.failed.append("(stopped)")
    finally:
        for group in groups.values():
            group.close()
        if rcv is not None:
            rcv.close()
        progress.clear()


def last_of(chosen: list[str], group: str) -> str | None:
    names = [m for m in chosen if MEASUREMENTS[m][0] == group]
    return names[-1] if names else None


def main() -> int:
    parser = argparse.ArgumentParser(description="hookkit benchmark (see bench/README.md)")
    parser.add_argument(
        "--quick", action="store_true", help="small counts for CI; never fails on speed"
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(MEASUREMENTS)}"
    )
    parser.add_argument("--skip", default="", help="comma-separated measurements to leave out")
    parser.add_argument("--json", metavar="FILE", help="also write the table and raw figures")
    args = parser.parse_args()
    try:
        chosen = choose(args.only, args.skip)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    # One line per failed delivery (the hanging measurement) would bury the output.
    logging.getLogger("hookkit.delivery").setLevel(logging.ERROR)
    logging.getLogger("hookkit.notify").setLevel(logging.ERROR)
    plan = QUICK if args.quick else FULL
    meta = {**machine(), "mode": "quick" if args.quick else "full", "measurements": chosen}
    say(
        f"hookkit bench ({meta['mode']}), {meta['date']}, python {meta['python']}, "
        f"{meta['cpus']} CPUs, load {meta['load']:.2f}: {', '.join(chosen)}"
    )
    report = Report()
    started = time.perf_counter()
    run(plan, chosen, report)
    if any(MEASUREMENTS[m][0] == "blackbox" for m in chosen):
        report.notes.append(
            "black box: `python -m connector serve` defaults, except HOOKKIT_API_RATE_LIMIT=off "
            "and HOOKKIT_ALLOW_PRIVATE_TARGETS=true (loopback receiver)"
        )
    print_table(report)
    meta["seconds"] = round(time.perf_counter() - started, 1)
    meta["load_after"] = round(machine()["load"], 2)
    say(f"\ntotal {meta['seconds']:.0f}s, load {meta['load_after']:.2f}")
    if args.json:
        write_json(args.json, report, meta)
    if report.failed:
        return 2
    if args.quick:
        return 0
    return 0 if all(row.ok is not False for row in report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
