"""The last 24 hours of a hook as an SVG bar chart, drawn on the server (no chart library).

It reads the delivery log page by page through `DeliveryLog.list_for_hook`, the API's own
query, and counts each attempt in its hour: delivered, or failed (any other outcome).
This module only counts and lays out; it never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..delivery.history import DeliveryLog

HOURS = 24
_PAGE = 100
_MAX_PAGES = 20  # at most 2 000 deliveries are read for one chart
WIDTH, HEIGHT = 720, 160


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    fail_y: float
    fail_height: float
    label: str
    ok: int
    failed: int


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    ok: int
    failed: int
    peak: int
    width: int = WIDTH
    height: int = HEIGHT


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def hourly(
    log: DeliveryLog, account_id: str, hook_id: str, now: float
) -> tuple[list[int], list[int]]:
    """Delivered and failed attempts per hour, oldest hour first (the last is the current)."""
    start = now - HOURS * 3600
    ok, failed = [0] * HOURS, [0] * HOURS
    for page in range(1, _MAX_PAGES + 1):
        items, total = log.list_for_hook(account_id, hook_id, status=None, page=page, limit=_PAGE)
        for delivery in items:
            for attempt in delivery["attempts"]:
                at = _seconds(attempt["at"])
                if not start < at <= now:
                    continue
                slot = min(int((at - start) // 3600), HOURS - 1)
                (ok if attempt["outcome"] == "delivered" else failed)[slot] += 1
        oldest = items[-1]["created_at"] if items else None
        if page * _PAGE >= total or oldest is None or _seconds(oldest) < start:
            break
    return ok, failed


def draw(ok: list[int], failed: list[int]) -> Chart:
    """Bars for the counts: failures stacked on deliveries, scaled to the busiest hour."""
    peak = max([a + b for a, b in zip(ok, failed, strict=True)] + [1])
    slot = WIDTH / len(ok)
    usable = HEIGHT - 20
    bars = []
    for index, (good, bad) in enumerate(zip(ok, failed, strict=True)):
        ok_h = usable * good / peak
        fail_h = usable * bad / peak
        hours_ago = len(ok) - 1 - index
        label = "this hour" if hours_ago == 0 else f"{hours_ago} h ago"
        bars.append(
            Bar(
                x=round(index * slot + 2, 1),
                width=round(slot - 4, 1),
                ok_y=round(HEIGHT - ok_h, 1),
                ok_height=round(ok_h, 1),
                fail_y=round(HEIGHT - ok_h - fail_h, 1),
                fail_height=round(fail_h, 1),
                label=label,
                ok=good,
                failed=bad,
            )
        )
    return Chart(bars, sum(ok), sum(failed), peak)


def chart(log: DeliveryLog, account_id: str, hook_id: str, now: float) -> Chart:
    return draw(*hourly(log, account_id, hook_id, now))
