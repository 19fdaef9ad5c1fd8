"""Worker heartbeats: which delivery workers are alive, as the database knows it.

Every worker (embedded or `python -m connector worker`) writes its row in `workers` every
HOOKKIT_HEARTBEAT (`beat`: one short UPDATE, an INSERT the first time) and deletes it when it
stops cleanly (`gone`). A worker that was killed leaves its row behind: it stops counting
as alive once its last heartbeat is older than HOOKKIT_WORKER_TIMEOUT (`alive`), and any
other worker deletes it after `STALE_AFTER` (`beat` prunes). An API process without an
embedded worker reads `alive` for `/readyz` and the `hookkit_workers_alive` gauge, so it
knows about workers on any machine that share its database.

Times come from the caller's clock. This module never touches deliveries.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from ..metrics import Reading
from ..store.database import Store
from ..store.tables import workers

# Rows whose last heartbeat is older than this (seconds, or 10 worker timeouts if that is
# longer) belong to workers that were killed: the next heartbeat of any worker deletes them.
STALE_AFTER = 300.0

_TOUCH = (
    workers.update()
    .where(workers.c.id == bindparam("worker_id"))
    .values(last_seen=bindparam("now"))
)
_INSERT = workers.insert()
_PRUNE = workers.delete().where(workers.c.last_seen < bindparam("before"))
_GONE = workers.delete().where(workers.c.id == bindparam("worker_id"))
_ALIVE = select(func.count()).select_from(workers).where(workers.c.last_seen >= bindparam("since"))


@dataclass(frozen=True)
class Identity:
    """Who beats: the worker's id, host name and process id, and when it started."""

    worker_id: str
    started_at: float
    host: str
    pid: int

    @classmethod
    def of(cls, worker_id: str, started_at: float) -> Identity:
        """This process's identity (host name and pid read now, after any fork)."""
        return cls(worker_id, started_at, socket.gethostname()[:255], os.getpid())


def beat(store: Store, me: Identity, now: float, timeout: float) -> None:
    """Say `me` is alive at `now`, and delete rows of workers silent for long (killed ones)."""
    with store.write() as conn:
        touched = conn.execute(_TOUCH, {"worker_id": me.worker_id, "now": now}).rowcount
        if not touched:
            conn.execute(
                _INSERT,
                {
                    "id": me.worker_id,
                    "host": me.host,
                    "pid": me.pid,
                    "started_at": me.started_at,
                    "last_seen": now,
                },
            )
        conn.execute(_PRUNE, {"before": now - max(STALE_AFTER, 10 * timeout)})


def gone(store: Store, worker_id: str) -> None:
    """A worker stopping cleanly takes its row with it."""
    with store.write() as conn:
        conn.execute(_GONE, {"worker_id": worker_id})


def alive(store: Store, now: float, timeout: float) -> int:
    """How many workers wrote a heartbeat within `timeout` seconds of `now`."""
    with store.read() as conn:
        return int(conn.execute(_ALIVE, {"since": now - timeout}).scalar_one())


def reading(count: int) -> Reading:
    """The `hookkit_workers_alive` gauge (read from the database at scrape time)."""
    return Reading(
        "hookkit_workers_alive",
        "Delivery workers (embedded or separate, any machine) whose heartbeat is recent "
        "(within HOOKKIT_WORKER_TIMEOUT)",
        count,
    )
