"""Ids of stored rows: `evt_01j…`, time-ordered so that sorting by id sorts by creation."""

from __future__ import annotations

import secrets

from ..clock import system_clock

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    """A time-ordered id (`evt_01j…`): sorting by id sorts by creation, across processes.

    The machine's clock, never an injected one: ids must stay unique and ordered across
    processes whatever a test does to its own clock.
    """
    millis = int(system_clock() * 1000)
    value = (millis << 80) | int.from_bytes(secrets.token_bytes(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return f"{prefix}_{''.join(reversed(chars))}"
