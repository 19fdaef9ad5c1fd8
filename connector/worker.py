"""The delivery worker: claims due deliveries, sends them concurrently, records the results.

One asyncio loop per worker (a thread in the embedded service, the main thread of
`python -m connector worker`). Isolation: a delivery first waits for a slot of its target
host (`max_per_host`), then for a global slot (`max_in_flight`), so a slow or dead host only
ever occupies its own slots; hosts with a full queue are skipped when claiming. Per-hook
rate limits (e.g. Zapier's 30/s) are token buckets here.

New events wake the loop directly (`wake()`); timed polling only picks up retries and work
published by other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import outbox
from .delivery import RetryPolicy, Sender, attempt
from .outbox import Job, Result
from .store import new_id

if TYPE_CHECKING:
    from .service import Hookkit

log = logging.getLogger("hookkit.worker")
T = TypeVar("T")


class _Bucket:
    """A token bucket: `rate` requests per second with a burst of one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
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
    def __init__(self, service: Hookkit, *, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.settings = service.settings
        self.store = service.store
        self.clock = clock
        self.policy = RetryPolicy(self.settings.retry_schedule, self.settings.retry_jitter)
        self.owner = new_id("wrk")
        self.capacity = self.settings.max_in_flight * 2  # claimed and held at once
        self.host_capacity = self.settings.max_per_host * 2
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._held: dict[str, Job] = {}
        self._hosts: Counter[str] = Counter()
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._tasks: set[asyncio.Task[None]] = set()

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
        self._ready.set()
        log.info("worker %s started", self.owner)
        async with Sender(self.settings) as sender:
            self._sender = sender
            writer = asyncio.create_task(self._write_results())
            renewer = asyncio.create_task(self._renew_leases())
            try:
                await self._claim_loop()
            finally:
                await self._shutdown(writer, renewer)
        log.info("worker %s stopped", self.owner)

    async def _claim_loop(self) -> None:
        assert self._wake is not None and self._stop is not None
        while not self._stop.is_set():
            self._wake.clear()
            room = self.capacity - len(self._held)
            jobs: list[Job] = []
            if room > 0:
                full = [host for host, n in self._hosts.items() if n >= self.host_capacity]
                try:
                    jobs = await self._db(
                        outbox.claim,
                        self.store,
                        self.owner,
                        self.clock(),
                        self.settings.lease_seconds,
                        room,
                        full,
                    )
                except Exception:
                    log.exception("claiming deliveries failed; retrying")
                    await self._sleep(self.settings.poll_interval)
                    continue
                for job in jobs:
                    self._hold(job)
                if len(jobs) == room:
                    continue
            await self._sleep(await self._idle_delay(bool(jobs)))

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call off the loop (inline once the interpreter is exiting)."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except RuntimeError as exc:
            if "shutdown" not in str(exc):
                raise
            return fn(*args, **kwargs)

    async def _idle_delay(self, claimed: bool) -> float:
        """Sleep until the next retry is due, at most one poll interval."""
        poll = self.settings.poll_interval
        if claimed or len(self._held) >= self.capacity:
            return poll
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
        self._hosts[job.host] += 1
        task = asyncio.create_task(self._deliver(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release(self, job: Job) -> None:
        if self._held.pop(job.id, None) is None:
            return
        self._hosts[job.host] -= 1
        if self._hosts[job.host] <= 0:
            del self._hosts[job.host]
            self._host_slots.pop(job.host, None)

    async def _deliver(self, job: Job) -> None:
        slot = self._host_slots.setdefault(job.host, asyncio.Semaphore(self.settings.max_per_host))
        try:
            async with slot:
                await self._respect_rate_limit(job)
                async with self._global:
                    result = await attempt(job, self._sender, self.policy, self.clock)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not lose the delivery: the lease brings it back
            log.exception("delivery %s crashed", job.id)
            return
        await self._results.put(result)

    async def _respect_rate_limit(self, job: Job) -> None:
        if not job.rate_limit:
            return
        bucket = self._buckets.get(job.subscription_id)
        if bucket is None or bucket.rate != job.rate_limit:
            bucket = self._buckets[job.subscription_id] = _Bucket(job.rate_limit, self.clock)
        delay = bucket.delay()
        if delay > 0:
            await asyncio.sleep(delay)

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
                    outbox.record,
                    self.store,
                    batch,
                    failure_threshold=self.settings.failure_threshold,
                    now=self.clock(),
                )
                break
            except Exception:
                # Keep the results and try again; our leases are renewed meanwhile.
                log.exception("recording %d results failed; retrying", len(batch))
                await asyncio.sleep(1.0)
        for result in batch:
            self._release(result.job)
        if len(self._buckets) > 10_000:
            self._buckets.clear()
        if notices:
            threading.Thread(target=self.service.notify, args=(notices,), daemon=True).start()
        self.wake()

    async def _renew_leases(self) -> None:
        interval = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self._db(
                    outbox.renew,
                    self.store,
                    self.owner,
                    list(self._held),
                    self.clock() + self.settings.lease_seconds,
                )
            except Exception:
                log.exception("renewing leases failed")

    async def _shutdown(self, writer: asyncio.Task[None], renewer: asyncio.Task[None]) -> None:
        """Let in-flight sends finish (bounded), record them, give back the rest."""
        renewer.cancel()
        if self._tasks:
            grace = self.settings.connect_timeout + self.settings.read_timeout
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
        await self._results.join()  # the writer records what the last sends produced
        writer.cancel()
        try:
            await self._db(outbox.release, self.store, self.owner, list(self._held), self.clock())
        except Exception:
            log.exception("releasing claims failed; they return when their lease ends")
