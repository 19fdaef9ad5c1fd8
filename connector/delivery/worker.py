"""The delivery worker: claims due deliveries, sends them concurrently, records the results.

One asyncio loop per worker (a thread in the embedded service, the main thread of
`python -m connector worker`). Isolation: a delivery first waits for its hook's rate limit
(a token bucket, e.g. Zapier's 30/s), then for a slot of its target host (`max_per_host`,
hosts counted as `host:port`), then for a global slot (`max_in_flight`); so a slow or dead
host only ever occupies its own slots, and a throttled hook none while it waits. Claims
are capped per host and per rate-limited hook (`outbox.Quota`), so a dead host's backlog
cannot fill the worker either.

Receivers that ask to slow down (429 or 503 with `Retry-After`): `attempts.decide` puts that
delivery's next attempt no sooner than asked, and the worker eases off the whole host until
that time: each such answer halves the host's claim cap (from `max_per_host`, down to 1).
The cap counts what the worker holds for the host from claim to send, so at most that many
requests go to it at once; it ends on the clock, with no semaphore to resize. Simpler than
skipping the host outright, and kinder to shared hosts (one Zap's 429 must not stop every
delivery to hooks.zapier.com for an hour).

New events wake the loop directly (`wake()`), or through PostgreSQL `LISTEN/NOTIFY` when
published by another process; timed polling only picks up retries (and is the fallback).

A worker must never drop a claim silently: every claimed delivery ends as a recorded
result, a released claim (clean stop), or an expiring lease (crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..clock import Clock
from ..config import Settings
from ..store.database import Store
from ..store.ids import new_id
from ..store.tables import NOTIFY_CHANNEL
from . import outbox, recording
from .attempts import RetryPolicy, attempt, crashed
from .jobs import Job, Notice, Result
from .outbox import Quota
from .sender import Sender

log = logging.getLogger("hookkit.worker")
T = TypeVar("T")


class _Bucket:
    """A token bucket: `rate` requests per second with a burst of one second's worth."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.rate, self.clock = rate, clock
        self.tokens, self.stamp = rate, clock()

    def delay(self) -> float:
        """Take a token; how long to wait before using it."""
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class Worker:
    """Claims, sends and records deliveries of one store until stopped.

    `notify` receives what the account must hear about (exhausted deliveries, disabled
    hooks), on a thread of its own so a slow SMTP server never holds up sending.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Clock,
        notify: Callable[[Sequence[Notice]], None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.notify = notify
        self.policy = RetryPolicy(self.settings.retry_schedule, self.settings.retry_jitter)
        self.owner = new_id("wrk")
        self.capacity = self.settings.max_in_flight * 2  # claimed and not yet sent, at once
        self.host_capacity = self.settings.max_per_host * 2
        self.recorded = 0  # attempts written back by this worker
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._held: dict[str, Job] = {}
        self._ready_at: dict[str, float] = {}  # when a held job's rate-limit token is due
        self._hosts: Counter[str] = Counter()
        self._hooks: Counter[str] = Counter()
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._slowed: dict[str, tuple[int, float]] = {}  # host -> (claim cap, until when)
        self._buckets: dict[str, _Bucket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sending: set[asyncio.Task[Any]] = set()
        self._finished: set[str] = set()  # held jobs whose result awaits being recorded

    # -- control (any thread) ---------------------------------------------------------------

    def start(self) -> None:
        """Run in a daemon thread (the embedded service)."""
        self._thread = threading.Thread(target=self.run, name="hookkit-worker", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def run(self) -> None:
        """Run until `stop()` (blocking)."""
        asyncio.run(self._main())

    def wake(self) -> None:
        """New work: look for it now instead of at the next poll."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wake.set)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, let sends in flight finish, give back the rest (see `_shutdown`)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the loop -----------------------------------------------------------------------------

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        self._results: asyncio.Queue[Result] = asyncio.Queue()
        self._global = asyncio.Semaphore(self.settings.max_in_flight)
        listener = await self._start_listener()
        self._ready.set()
        log.info("worker %s started", self.owner)
        with ThreadPoolExecutor(1, thread_name_prefix="hookkit-db") as self._database:
            async with Sender(self.settings) as sender:
                self._sender = sender
                writer = asyncio.create_task(self._write_results())
                renewer = asyncio.create_task(self._renew_leases())
                try:
                    await self._claim_loop()
                finally:
                    released = await self._shutdown(writer, renewer, listener)
        log.info(
            "worker %s stopped: %d attempts recorded, %d claims released",
            self.owner,
            self.recorded,
            released,
        )

    async def _claim_loop(self) -> None:
        assert self._wake is not None and self._stop is not None
        while not self._stop.is_set():
            self._wake.clear()
            jobs: list[Job] = []
            if self._room() > 0:
                try:
                    jobs = await self._db(
                        outbox.claim,
                        self.store,
                        self.owner,
                        self.clock(),
                        self.settings.lease_seconds,
                        self._quota(),
                        self.settings.envelope or None,
                    )
                except Exception:
                    log.exception("claiming deliveries failed; retrying")
                    await self._sleep(self.settings.poll_interval)
                    continue
                if self._stop.is_set():  # stopped while claiming: hand these straight back
                    self._held.update((job.id, job) for job in jobs)
                    break
                for job in jobs:
                    self._hold(job)
                if jobs:
                    continue  # there may be more; an empty claim ends the round
            await self._sleep(await self._idle_delay())

    def _room(self) -> int:
        """How many more deliveries a claim may take.

        A job counts against `capacity` from its claim until its send finishes, not until its
        result is written back, so the sender keeps `max_in_flight` requests going while
        results are being recorded. Results awaiting the database are capped at `capacity`
        too: while the database refuses them, claiming stops.
        """
        finished = len(self._finished)
        return self.capacity - max(len(self._held) - finished, finished)

    def _quota(self) -> Quota:
        # A job still waiting for its rate-limit token does not count toward its host: the
        # hook's own cap bounds those, and a throttled hook must not crowd out its host-mates.
        # Nor does a job already sent: it no longer occupies the host.
        now = self.clock()
        ready = Counter(
            job.host
            for job in self._held.values()
            if self._ready_at[job.id] <= now and job.id not in self._finished
        )
        for host, (cap, until) in list(self._slowed.items()):
            if until <= now:
                del self._slowed[host]
            else:  # a host that asked to slow down counts as fuller by what its cap took away
                ready[host] += max(0, self.host_capacity - cap)
        return Quota(
            total=self._room(),
            per_host=self.host_capacity,
            held_hosts=ready,
            held_hooks=self._hooks,
            rate_limits={
                job.subscription_id: job.rate_limit for job in self._held.values() if job.rate_limit
            },
        )

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call off the loop (inline once the interpreter is exiting).

        All of them on one thread of this worker's: they are short transactions that SQLite
        runs one at a time anyway, and one thread keeps them from queueing on the write lock
        and from spreading their native memory over several malloc arenas (measured: the
        worker's RSS grew 1-3 MiB more while draining 20,000 deliveries on a thread pool).
        """
        call = functools.partial(fn, *args, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._database, call)
        except RuntimeError as exc:
            if "shutdown" not in str(exc):
                raise
            return fn(*args, **kwargs)

    async def _idle_delay(self) -> float:
        """Sleep until the next retry is due, at most one poll interval."""
        poll = self.settings.poll_interval
        if self._room() <= 0:
            return poll  # a recorded result wakes us
        try:
            due = await self._db(outbox.next_due, self.store)
        except Exception:
            log.exception("reading the queue failed")
            return poll
        if due is None:
            return poll
        wait = due - self.clock()
        # Due but not claimed means it waits behind a busy host: a finished send wakes us.
        return poll if wait <= 0 else min(wait, poll)

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None and self._stop is not None
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._stop.wait())]
        await asyncio.wait(waits, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()

    def _hold(self, job: Job) -> None:
        self._held[job.id] = job
        self._ready_at[job.id] = self.clock() + self._rate_delay(job)
        self._hosts[job.host] += 1
        self._hooks[job.subscription_id] += 1
        task = asyncio.create_task(self._deliver(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release(self, job: Job) -> None:
        self._finished.discard(job.id)
        if self._held.pop(job.id, None) is None:
            return
        self._ready_at.pop(job.id, None)
        self._hosts[job.host] -= 1
        if self._hosts[job.host] <= 0:
            del self._hosts[job.host]
            self._host_slots.pop(job.host, None)
        self._hooks[job.subscription_id] -= 1
        if self._hooks[job.subscription_id] <= 0:
            del self._hooks[job.subscription_id]

    async def _deliver(self, job: Job) -> None:
        # Throttled before taking any slot: a hook waiting on its rate limit must not hold
        # a slot its host's other hooks could use.
        wait = self._ready_at[job.id] - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
        slot = self._host_slot(job.host)
        task = asyncio.current_task()
        assert task is not None
        async with slot, self._global:
            self._sending.add(task)
            try:
                result = await attempt(job, self._sender, self.policy, self.clock)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not lose the delivery, nor hide it
                log.exception("delivery %s crashed", job.id)
                result = crashed(job, exc, self.policy, self.clock)
            finally:
                self._sending.discard(task)
        if result.slow_down_until is not None:
            self._slow_down(job.host, result.slow_down_until)
        self._finished.add(job.id)
        await self._results.put(result)

    def _slow_down(self, host: str, until: float) -> None:
        """Halve `host`'s claim cap (down to 1) until `until`: it answered 429/503 Retry-After."""
        now = self.clock()
        cap, was_until = self._slowed.get(host, (self.settings.max_per_host, now))
        if was_until <= now:
            cap = self.settings.max_per_host
        self._slowed[host] = (max(1, cap // 2), max(until, was_until))
        log.info("host %s asked to slow down: at most %d at once", host, max(1, cap // 2))

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self.settings.max_per_host)
        return slot

    def _rate_delay(self, job: Job) -> float:
        """Take the job's rate-limit token now (claim order is send order); seconds to wait."""
        if not job.rate_limit:
            return 0.0
        bucket = self._buckets.get(job.subscription_id)
        if bucket is None or bucket.rate != job.rate_limit:
            bucket = self._buckets[job.subscription_id] = _Bucket(job.rate_limit, self.clock)
        return bucket.delay()

    async def _write_results(self) -> None:
        """Persist results in batches: one transaction for everything finished meanwhile."""
        while True:
            batch = [await self._results.get()]
            while not self._results.empty() and len(batch) < 500:
                batch.append(self._results.get_nowait())
            await self._persist(batch)
            for _ in batch:
                self._results.task_done()

    async def _persist(self, batch: list[Result]) -> None:
        while True:
            try:
                notices = await self._db(
                    recording.record,
                    self.store,
                    batch,
                    failure_threshold=self.settings.failure_threshold,
                    now=self.clock(),
                )
                break
            except Exception:
                # Keep the results and try again; should the lease run out meanwhile, another
                # worker sends again (at least once, same webhook-id).
                log.exception("recording %d results failed; retrying", len(batch))
                await asyncio.sleep(1.0)
        self.recorded += len(batch)
        for result in batch:
            self._release(result.job)
        if len(self._buckets) > 10_000:
            self._buckets.clear()
        if notices:
            threading.Thread(target=self.notify, args=(notices,), daemon=True).start()
        self.wake()

    async def _renew_leases(self) -> None:
        interval = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            # Not the finished ones: their rows are being recorded, and two transactions
            # locking the same rows in different orders could deadlock (PostgreSQL).
            ids = sorted(set(self._held) - self._finished)
            try:
                await self._db(
                    outbox.renew,
                    self.store,
                    self.owner,
                    ids,
                    self.clock() + self.settings.lease_seconds,
                )
            except Exception:
                log.exception("renewing leases failed")

    # -- PostgreSQL LISTEN/NOTIFY -------------------------------------------------------------

    async def _start_listener(self) -> asyncio.Task[None] | None:
        """Listen for new deliveries (PostgreSQL); returns once listening or given up for now."""
        conninfo = self.store.listen_conninfo()
        if conninfo is None:
            return None
        listening = asyncio.Event()
        task = asyncio.create_task(self._listen(conninfo, listening))
        # Up before the first claim, so nothing published in between goes unnoticed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listening.wait(), timeout=5.0)
        return task

    async def _listen(self, conninfo: str, listening: asyncio.Event) -> None:
        import psycopg

        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, connect_timeout=5
                )
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    listening.set()
                    self.wake()  # whatever was published while we were not listening
                    async for _notice in conn.notifies():
                        self.wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                listening.set()  # polling carries on meanwhile
                log.warning("LISTEN %s failed (%s); polling until it is back", NOTIFY_CHANNEL, exc)
                await asyncio.sleep(max(5.0, self.settings.poll_interval))

    # -- stopping -----------------------------------------------------------------------------

    async def _shutdown(
        self,
        writer: asyncio.Task[None],
        renewer: asyncio.Task[None],
        listener: asyncio.Task[None] | None,
    ) -> int:
        """Let sends in flight finish (bounded), record them, give back the rest.

        Deliveries still waiting for a slot or a rate-limit token are not started: they are
        released at once, so another worker sends them now instead of after the lease.
        """
        if listener is not None:
            listener.cancel()
        waiting = self._tasks - self._sending
        for task in waiting:
            task.cancel()
        if self._sending:
            grace = self.settings.connect_timeout + self.settings.read_timeout + 1.0
            _done, late = await asyncio.wait(set(self._sending), timeout=grace)
            for task in late:
                task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        try:
            # The writer records what the last sends produced.
            await asyncio.wait_for(self._results.join(), timeout=self.settings.lease_seconds)
        except TimeoutError:
            log.warning(
                "could not record %d results; they return when their lease ends",
                self._results.qsize(),
            )
        renewer.cancel()
        writer.cancel()
        held = list(self._held)
        try:
            await self._db(outbox.release, self.store, self.owner, held, self.clock())
        except Exception:
            log.exception("releasing claims failed; they return when their lease ends")
            return 0
        return len(held)
