"""The delivery worker: claims due deliveries, sends them concurrently, records the results.

One asyncio loop per worker (a thread in the embedded service, the main thread of
`python -m connector worker`). Isolation: a delivery first waits for its hook's rate limit
(a token bucket, e.g. Zapier's 30/s), then for a turn at its target host (hosts counted as
`host:port`), then for a global slot (`max_in_flight`); so a slow or dead host only ever
occupies its own turns, and a throttled hook none while it waits. How many requests a host
gets at once adapts to its answers (`host_limits`: additive increase while it answers
quickly and well, halved on timeouts, connection errors, 5xx and 429), between 1 and
`max_per_host`. Claims
are capped per host, per account and per rate-limited hook (`outbox.Quota`), so neither a
dead host's backlog nor a busy account can fill the worker. A claimed delivery whose token
is not due soon goes back to the queue, due when its token is (`outbox.defer`): it never
holds a claim slot while it waits, and the worker that claims it then sends it at once.

Receivers that ask to slow down (429 or 503 with `Retry-After`): `attempts.decide` puts that
delivery's next attempt no sooner than asked, and the worker eases off the whole host: its
limit halves and does not grow again before the asked time. Kinder to shared hosts than
skipping them outright (one Zap's 429 must not stop every delivery to hooks.zapier.com for
an hour). Claims follow the limits: a host may hold twice its limit in claimed deliveries
(one turn being sent, one ready), at most half the worker's capacity.

New events wake the loop directly (`wake()`), or through PostgreSQL `LISTEN/NOTIFY` when
published by another process; timed polling only picks up retries (and is the fallback).
Idle rounds of the loop (and one per poll interval while busy) also queue one batch of a
running replay (`replays.advance`).

A worker must never drop a claim silently: every claimed delivery ends as a recorded
result, a released claim (clean stop), or an expiring lease (crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .. import metrics
from ..clock import Clock
from ..config import Settings
from ..store.database import Store
from ..store.ids import new_id
from ..store.tables import NOTIFY_CHANNEL
from . import heartbeat, observe, outbox, recording, replays, retention
from .attempts import RetryPolicy, attempt, crashed
from .host_limits import HostLimits
from .jobs import Job, Notice, Result
from .outbox import Quota
from .sender import Sender

log = logging.getLogger("hookkit.worker")
# A claimed job whose rate-limit token is due sooner than this waits for it in the worker;
# later, it goes back to the queue with its token's time (cheaper than a database round trip).
_MAX_TOKEN_WAIT = 0.05
# How often (seconds) to unpark FIFO deliveries whose turn came some way that did not unpark
# them (`outbox.heal`): a safety net, the recorded result of the one before does it at once.
_HEAL_EVERY = 60.0
# After a claim found no account waiting beside the busy ones, the next claims skip fair
# shares this long (seconds): those rounds read past the busy accounts' whole backlog.
_ALONE_FOR = 1.0
# After the rounds past full hosts, accounts and hooks found nothing, the next claims take one
# round only this long (seconds): each of those rounds reads the skipped ones' whole due
# backlog (a one-host drain read its whole queue on every claim). Work of another host due
# meanwhile waits this long at most.
_NARROW_FOR = 0.25
T = TypeVar("T")


class _Bucket:
    """A token bucket: `rate` requests per second with a burst of one second's worth, and
    at least one request: a hook's first message (or one after a quiet spell of 1/`rate`)
    is never delayed, however low its rate."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.rate, self.clock = rate, clock
        self.size = max(rate, 1.0)
        self.tokens, self.stamp = self.size, clock()

    def available(self) -> float:
        """Tokens now (negative: tokens already promised to deliveries put back)."""
        return min(self.size, self.tokens + (self.clock() - self.stamp) * self.rate)

    def delay(self) -> float:
        """Take a token; how long to wait before using it."""
        now = self.clock()
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
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
        # Claimed and not yet sent, at once: a host at the full `max_in_flight` (its claims
        # stop at half of this) still has deliveries ready behind those being sent, so a
        # finished send is replaced at once, not after the next claim (measured over HTTP,
        # bench B3b, batch publishes to one 50 ms host: 0.53x raw aiohttp in the same run
        # with twice `max_in_flight`, 0.74-0.79x with three times).
        self.capacity = self.settings.max_in_flight * 3
        self.host_limits = HostLimits(self.settings.max_per_host)
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
        self._host_turns: dict[str, asyncio.Condition] = {}  # hosts with sends waiting or on
        self._on_host: Counter[str] = Counter()  # requests being sent, per host
        self._buckets: dict[str, _Bucket] = {}
        self._promised: dict[str, float] = {}  # put back for its token: delivery -> due time
        self._alone_until = 0.0  # no other account had work due: no fair shares until then
        self._narrow_until = 0.0  # nothing was due past what is full: one claim round until then
        self._tasks: set[asyncio.Task[None]] = set()
        self._sending: set[asyncio.Task[Any]] = set()
        self._finished: set[str] = set()  # held jobs whose result awaits being recorded
        self._replays_next = 0.0  # when a busy loop looks for a running replay again
        self._running = False  # the loop is up and has not ended (`alive`)

    # -- control (any thread) ---------------------------------------------------------------

    def start(self) -> None:
        """Run in a daemon thread (the embedded service)."""
        self._thread = threading.Thread(target=self.run, name="hookkit-worker", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def run(self) -> None:
        """Run until `stop()` (blocking)."""
        asyncio.run(self._main())

    def alive(self) -> bool:
        """Whether the loop runs (readiness): started, and neither stopped nor crashed."""
        return self._running

    def wake(self) -> None:
        """New work: look for it now instead of at the next poll."""
        loop, wake = self._loop, self._wake
        # Already woken and not yet looked: the loop clears the flag before it claims, so
        # that claim sees this caller's committed work. Skipping the cross-thread call saves
        # a self-pipe write per publish while the worker is busy anyway.
        if loop is not None and wake is not None and not wake.is_set():
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
        self._running = True
        self._ready.set()
        log.info("worker %s started", self.owner)
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="hookkit-db") as self._database:
                async with Sender(self.settings) as sender:
                    self._sender = sender
                    writer = asyncio.create_task(self._write_results())
                    renewer = asyncio.create_task(self._renew_leases())
                    pruner = asyncio.create_task(self._prune())
                    beater = asyncio.create_task(self._heartbeat())
                    try:
                        await self._claim_loop()
                    finally:
                        pruner.cancel()
                        released = await self._shutdown(writer, renewer, listener)
                        beater.cancel()
                        await self._leave()
        finally:
            self._running = False
        metrics.released(released)
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
                notes = outbox.ClaimNotes()
                try:
                    jobs = await self._db(
                        outbox.claim,
                        self.store,
                        self.owner,
                        self.clock(),
                        self.settings.lease_seconds,
                        self._quota(),
                        self.settings.envelope or None,
                        notes,
                    )
                    if notes.alone:
                        self._alone_until = self.clock() + _ALONE_FOR
                    if notes.nothing_past:
                        self._narrow_until = self.clock() + _NARROW_FOR
                except Exception:
                    log.exception("claiming deliveries failed; retrying")
                    await self._sleep(self.settings.poll_interval)
                    continue
                if self._stop.is_set():  # stopped while claiming: hand these straight back
                    self._held.update((job.id, job) for job in jobs)
                    break
                metrics.claimed(len(jobs))
                await self._hold_or_defer(jobs)
            # Replays are looked for when the queue is idle, and at most once per poll
            # interval while it is busy: not one more read on every claim of a drain.
            replayed = False
            if not jobs or self.clock() >= self._replays_next:
                self._replays_next = self.clock() + self.settings.poll_interval
                replayed = await self._advance_replays()
            # Claiming again at once also takes what was published meanwhile: skipping that
            # claim when this one hit its caps cost latency (publish-to-receipt p95 at
            # 200/s over HTTP, bench B5: ~43 ms instead of ~30) and no measurable drain rate.
            if jobs or replayed:
                continue  # more may be due, or the replay may have more batches to queue
            await self._sleep(await self._idle_delay())

    async def _advance_replays(self) -> bool:
        """Queue one batch of a running replay (`replays.advance`); whether there was one."""
        try:
            return await self._db(replays.advance, self.store, self.clock())
        except Exception:
            log.exception("queueing a replay batch failed; retrying")
            return False

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
        # Each account gets a fair share while another waits: what is left beside those
        # it holds for, split once more (a fresh account is never at its cap).
        accounts = Counter(
            job.account_id for job in self._held.values() if job.id not in self._finished
        )
        # A rate-limited hook may take what its bucket holds now, or one to put back. A full
        # bucket of a hook not held is as good as none (the claim gives such a hook a full
        # bucket's cap): it goes, so this loop covers only recently busy hooks, not every
        # rate-limited hook this worker ever sent for.
        hook_caps: dict[str, int] = {}
        for hook, bucket in list(self._buckets.items()):
            held, tokens = self._hooks.get(hook, 0), bucket.available()
            if not held and tokens >= bucket.size:
                del self._buckets[hook]
                continue
            hook_caps[hook] = max(1, held + math.floor(max(0.0, tokens)))
        return Quota(
            total=self._room(),
            per_host=self._host_claim_cap(self.host_limits.start),
            host_caps={
                host: self._host_claim_cap(limit)
                for host, limit in self.host_limits.in_force().items()
            },
            per_account=None
            if self.clock() < self._alone_until
            else max(1, self.capacity // (len(accounts) + 1)),
            held_hosts=ready,
            held_accounts=accounts,
            held_hooks=self._hooks,
            hook_caps=hook_caps,
            reach_past=now >= self._narrow_until,
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
        narrowed = self._narrow_until - self.clock()
        if narrowed > 0:  # the next claim reads past what is full again
            return min(narrowed, poll)
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

    async def _hold_or_defer(self, jobs: list[Job]) -> None:
        """Hold the claimed jobs whose rate-limit token is due, and put the others back in
        the queue, due when their token is: no claim slot waits on a rate limit."""
        later: dict[str, float] = {}
        for job in jobs:
            wait = self._rate_delay(job)
            if wait <= _MAX_TOKEN_WAIT:
                self._hold(job, wait)
            else:
                later[job.id] = self._promised[job.id] = self.clock() + wait
        if not later:
            return
        try:
            await self._db(outbox.defer, self.store, self.owner, later)
        except Exception:  # their leases run out instead; their tokens stay promised
            log.exception("putting back %d rate-limited deliveries failed", len(later))

    def _hold(self, job: Job, wait: float = 0.0) -> None:
        self._held[job.id] = job
        self._ready_at[job.id] = self.clock() + wait
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
            if not self._on_host[job.host]:
                self._host_turns.pop(job.host, None)
        self._hooks[job.subscription_id] -= 1
        if self._hooks[job.subscription_id] <= 0:
            del self._hooks[job.subscription_id]

    async def _deliver(self, job: Job) -> None:
        # Throttled before taking any slot: a hook waiting on its rate limit must not hold
        # a slot its host's other hooks could use.
        wait = self._ready_at[job.id] - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
        task = asyncio.current_task()
        assert task is not None
        async with self._host_turn(job.host), self._global:
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
            self._count_answer(job.host, result)
        self._finished.add(job.id)
        await self._results.put(result)

    def _host_claim_cap(self, limit: int) -> int:
        """Claimed deliveries a host with `limit` may hold: a turn being sent and one ready,
        never more than half the worker (a host that turns dead must leave room)."""
        return max(1, min(2 * limit, self.capacity // 2))

    @contextlib.asynccontextmanager
    async def _host_turn(self, host: str) -> AsyncIterator[None]:
        """Wait until `host` has fewer requests in flight than its limit, and take a turn."""
        turns = self._host_turns.get(host)
        if turns is None:
            turns = self._host_turns[host] = asyncio.Condition()
        async with turns:
            await turns.wait_for(lambda: self._on_host[host] < self.host_limits.limit(host))
            self._on_host[host] += 1
        try:
            yield
        finally:
            async with turns:
                self._on_host[host] -= 1
                if self._on_host[host] <= 0:
                    del self._on_host[host]
                # Wake as many as may go now (the limit may have grown too), not every waiter:
                # a host with a deep queue would wake them all on every answer.
                turns.notify(max(1, self.host_limits.limit(host) - self._on_host[host]))

    def _count_answer(self, host: str, result: Result) -> None:
        """Feed the host's limit: a timeout, connection error, 5xx or 429 halves it, a quick
        success grows it; a request we refused to send says nothing about the host."""
        now, before = self.clock(), self.host_limits.limit(host)
        if result.slow_down_until is not None:
            self.host_limits.slow_down(host, until=result.slow_down_until, now=now)
        elif not observe.was_sent(result):
            return
        else:
            code = result.response_code
            ok = code is not None and code < 500 and code != 429
            self.host_limits.answered(host, ok=ok, seconds=result.duration_ms / 1000, now=now)
        after = self.host_limits.limit(host)
        if after != before:
            metrics.host_limited(host, after, result.slow_down_until or now)
            if after < before:
                log.info("host %s: at most %d requests at once now", host, after)

    def _rate_delay(self, job: Job) -> float:
        """Take the job's rate-limit token now (claim order is send order); seconds to wait.

        A job put back for its token comes back when that token is due, and uses it.
        """
        promised = self._promised.pop(job.id, None)
        if promised is not None:
            return max(0.0, promised - self.clock())
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
        if len(self._promised) > 100_000:  # taken by other workers meanwhile
            self._promised.clear()
        if notices:
            threading.Thread(target=self.notify, args=(notices,), daemon=True).start()
        self.wake()

    async def _renew_leases(self) -> None:
        interval = self.settings.lease_seconds / 3
        rounds = 0
        while True:
            await asyncio.sleep(interval)
            rounds += 1
            try:  # FIFO hooks' queues: park what waits, now and then unpark what was missed
                now = self.clock()  # looking back a few rounds covers a slow or failed one
                await self._db(outbox.park_blocked, self.store, now, now - 10 * interval)
                if rounds % max(1, round(_HEAL_EVERY / interval)) == 0:
                    await self._db(outbox.heal, self.store, self.clock())
            except Exception:
                log.exception("parking or unparking FIFO deliveries failed")
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

    async def _prune(self) -> None:
        """Retention (`retention.prune`) every HOOKKIT_PRUNE_INTERVAL, in small batches."""
        settings = self.settings
        while True:
            await asyncio.sleep(settings.prune_interval)
            total, step = retention.Pruned(), retention.Pruned(more=True)
            try:
                while step.more:  # a batch at a time: claims and results go in between
                    step = await self._db(
                        retention.prune_batch,
                        self.store,
                        self.clock(),
                        keep=settings.retention,
                        keep_failed=settings.retention_failed,
                    )
                    total += step
            except Exception:
                log.exception("pruning old deliveries and events failed; trying again later")
            if total.deliveries or total.events:
                log.info("%s", total)

    async def _heartbeat(self) -> None:
        """Write this worker's heartbeat every HOOKKIT_HEARTBEAT (`heartbeat.beat`)."""
        me = heartbeat.Identity.of(self.owner, self.clock())
        while True:
            try:
                await self._db(
                    heartbeat.beat, self.store, me, self.clock(), self.settings.worker_timeout
                )
            except Exception:
                log.exception("writing the worker heartbeat failed; trying again")
            await asyncio.sleep(self.settings.heartbeat)

    async def _leave(self) -> None:
        """A clean stop: this worker's heartbeat row goes (it no longer counts as alive)."""
        try:
            await self._db(heartbeat.gone, self.store, self.owner)
        except Exception:
            log.exception("removing the worker heartbeat failed; it goes stale instead")

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
            # HOOKKIT_SHUTDOWN_GRACE: sends still running after it are cut off and released
            # (the receiver may have got one: it is sent again, with the same webhook-id).
            grace = self.settings.shutdown_grace
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
