"""The last 24 hours of a hook as an SVG bar chart, drawn on the server (no chart library).

The counts per hour come from `DeliveryLog.hourly` (one grouped query): delivered attempts,
and failed ones (any other outcome). This module only lays out; it never writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..delivery.history import DeliveryLog

HOURS = 24
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
    return draw(*log.hourly(account_id, hook_id, now, HOURS))
