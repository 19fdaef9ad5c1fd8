"""hookkit measured in-process, against raw HTTP clients in the same run: a backlog drained
by a fresh worker (fast and 50 ms receivers), the naive inline sender, publish-to-receipt
latency at a pace, fan-out to 1,000 subscriptions, worker memory and hanging endpoints.

hookkit runs in this process on a temporary SQLite file (`new_service`); the memory runs in
a fresh child process (bench/memory.py), killed if it overruns. Loopback only; every phase
is bounded by the plan's `deadline`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import memory
import requests
from baselines import raw_aiohttp, raw_paced, raw_requests
from common import (
    EVENT_TYPE,
    SLOW_MS,
    Plan,
    Receiver,
    Report,
    Row,
    median_by,
    ms,
    percentile,
    rate_text,
    sample_body,
    say,
    times,
    title,
)
from engine import (
    count_status,
    delivery_timeline,
    drain,
    last_recorded,
    new_service,
    publish_many,
    start_worker,
    stop_worker,
    subscribe,
    wait_delivered,
    warm_up,
)

from connector.config import Settings
from connector.hooks.accounts import ensure_account

# -- the measurements -------------------------------------------------------------------------


class InProcess:
    def __init__(self, plan: Plan, rcv: Receiver, tmp: Path, report: Report) -> None:
        self.plan, self.rcv, self.tmp, self.report = plan, rcv, tmp, report
        probe = new_service(tmp, "probe")
        self.sample: dict[str, Any] = dict(probe.catalog.get(EVENT_TYPE).sample)
        probe.close()
        self.fastest_raw: tuple[str, float] | None = None

    def close(self) -> None:
        """Nothing to stop: each measurement closes the services it made."""

    def show(self, label: str, result: dict[str, Any]) -> dict[str, Any]:
        extra = ""
        if "publish_rate" in result:
            extra = f", published at {rate_text(result['publish_rate'])}"
            if not result["complete"]:
                extra += (
                    f", INCOMPLETE: {result['delivered']} delivered, "
                    f"{result['received_distinct']} received"
                )
        say(
            f"  {label}: {result['n']} in {result['seconds']:.2f}s = {rate_text(result['rate'])}"
            f", {result['cpu_us']:.0f} us CPU each ({result['errors']} errors{extra})",
        )
        return result

    def hookkit_run(self, name: str, delay: int, n: int) -> dict[str, Any]:
        """A fresh service with one hook to the receiver; a backlog of `n` drained."""
        service = new_service(self.tmp, name)
        try:
            account = ensure_account(service.store, "bench")
            subscribe(service, account.id, self.rcv.url(name, delay))
            return drain(service, account.id, self.sample, n, self.plan, self.rcv, name)
        finally:
            service.close()

    def add_versus_raw(
        self,
        base: str,
        base_rate: float,
        raw: list[tuple[str, dict[str, Any]]],
        hookkit: tuple[str, dict[str, Any], float],
        *,
        target: float,
    ) -> None:
        """Rows against one raw baseline (`base`, its rate `base_rate`): each `(label, result)`
        of `raw` as information, then hookkit's `(label, result, ratio)`, which passes when
        its ratio reaches `target`."""
        for label, result in raw:
            self.report.add(
                Row(label, rate_text(result["rate"]), base, times(result["rate"] / base_rate))
            )
        label, hook, ratio = hookkit
        self.report.add(
            Row(
                label,
                rate_text(hook["rate"]) + ("" if hook["complete"] else " INCOMPLETE"),
                base,
                times(ratio),
                f">= {target:g}x",
                ratio >= target,
            )
        )

    # 1-2. fast receiver: raw baselines and hookkit ----------------------------------------------

    def fast(self) -> None:
        """Raw clients and hookkit, interleaved in `repeats` rounds.

        Each round compares hookkit with the fastest raw client of the same round; the round
        with the median ratio is the one reported (a burst of load from a neighbour skews one
        round, not the result). Every round is printed.
        """
        title("I1-2. fast receiver: raw clients (nothing stored or signed) and hookkit, in turn")
        p, r = self.plan, self.rcv
        rounds = []
        for k in range(p.repeats):
            req = self.show(
                f"raw requests x16 threads, round {k + 1}",
                raw_requests(
                    r.url(f"rawreq{k}"),
                    p.raw_n,
                    self.sample,
                    threads=16,
                    deadline=p.deadline,
                    prefix=f"rq{k}",
                ),
            )
            aio = self.show(
                f"raw aiohttp x64 in flight, round {k + 1}",
                raw_aiohttp(
                    r.url(f"rawaio{k}"),
                    p.raw_aio_n,
                    self.sample,
                    concurrency=64,
                    deadline=p.deadline,
                    prefix=f"ra{k}",
                ),
            )
            hook = self.show(f"hookkit, round {k + 1}", self.hookkit_run(f"hk{k}", 0, p.hook_n))
            fastest = ("aiohttp x64", aio) if aio["rate"] >= req["rate"] else ("requests x16", req)
            ratio = hook["rate"] / fastest[1]["rate"] if hook["complete"] else 0.0
            rounds.append(
                {"req": req, "aio": aio, "hook": hook, "fastest": fastest, "ratio": ratio}
            )
            say(f"    round {k + 1}: hookkit / {fastest[0]} = {times(ratio)}")
        self.report.raw["fast"] = rounds
        mid = median_by(rounds, lambda x: x["ratio"])
        name, fastest = mid["fastest"]
        req, aio, hook = mid["req"], mid["aio"], mid["hook"]
        self.fastest_raw = (name, fastest["rate"])
        self.hookkit_rate = statistics.median(x["hook"]["rate"] for x in rounds)
        self.publish_rate = statistics.median(x["hook"]["publish_rate"] for x in rounds)
        base = f"{name} {rate_text(fastest['rate'])}"
        rnd = f" (round {rounds.index(mid) + 1})" if len(rounds) > 1 else ""
        self.add_versus_raw(
            base,
            fastest["rate"],
            [
                ("I1a raw requests, 16 threads" + rnd, req),
                ("I1b raw aiohttp, 64 in flight" + rnd, aio),
            ],
            ("I2 in-process drain (SQLite, worker)" + rnd, hook, mid["ratio"]),
            target=0.6,
        )
        cpu = median_by(rounds, lambda x: x["hook"]["cpu_us"] / x["aio"]["cpu_us"])
        self.report.add(
            Row(
                "I2 ... sender CPU per delivery (info)",
                f"{cpu['hook']['cpu_us']:.0f} us",
                f"aiohttp x64 {cpu['aio']['cpu_us']:.0f} us",
                f"{cpu['hook']['cpu_us'] / cpu['aio']['cpu_us']:.1f}x",
            )
        )
        self.report.add(
            Row(
                "I2 hookkit publish (events accepted)" + rnd,
                rate_text(hook["publish_rate"]),
                base,
                times(hook["publish_rate"] / fastest["rate"]),
            )
        )

    # 3. 50 ms receiver ------------------------------------------------------------------------

    def slow(self) -> None:
        title(f"I3. receiver answering after {SLOW_MS} ms, concurrency 64")
        p, r = self.plan, self.rcv
        rounds = []
        for k in range(p.repeats):
            aio = self.show(
                f"raw aiohttp x64, 50 ms, round {k + 1}",
                raw_aiohttp(
                    r.url(f"slowaio{k}", SLOW_MS),
                    p.slow_n,
                    self.sample,
                    concurrency=64,
                    deadline=p.deadline,
                    prefix=f"sa{k}",
                ),
            )
            hook = self.show(
                f"hookkit, 50 ms, round {k + 1}", self.hookkit_run(f"hks{k}", SLOW_MS, p.slow_n)
            )
            ratio = hook["rate"] / aio["rate"] if hook["complete"] else 0.0
            rounds.append({"aio": aio, "hook": hook, "ratio": ratio})
            say(f"    round {k + 1}: hookkit / aiohttp = {times(ratio)}")
        req = self.show(
            "raw requests x16, 50 ms",
            raw_requests(
                r.url("slowreq", SLOW_MS),
                p.slow_threads_n,
                self.sample,
                threads=16,
                deadline=p.deadline,
                prefix="sq",
            ),
        )
        self.report.raw["slow"] = {"rounds": rounds, "requests": req}
        mid = median_by(rounds, lambda x: x["ratio"])
        aio, hook = mid["aio"], mid["hook"]
        base = f"aiohttp x64 {rate_text(aio['rate'])}"
        rnd = f" (round {rounds.index(mid) + 1})" if len(rounds) > 1 else ""
        self.add_versus_raw(
            base,
            aio["rate"],
            [("I3 raw requests x16, 50 ms", req)],
            ("I3 in-process drain, 50 ms receiver" + rnd, hook, mid["ratio"]),
            target=0.7,
        )

    # 4. naive inline sender -------------------------------------------------------------------

    def naive(self) -> None:
        title("I4. naive inline sender: publish, then requests.post in the same thread")
        p, r = self.plan, self.rcv
        service = new_service(self.tmp, "naive")
        results: dict[str, list[dict[str, Any]]] = {"requests.post": [], "Session": []}
        try:
            account = ensure_account(service.store, "bench")
            subscribe(service, account.id, r.url("naive"))
            with requests.Session() as session:
                session.trust_env = False
                variants: list[tuple[str, Callable[..., requests.Response]]] = [
                    ("requests.post", requests.post),
                    ("Session", session.post),
                ]
                for k in range(p.repeats):
                    for label, post in variants:
                        for _ in range(5):  # warm
                            post(r.url("naive_warm"), data=b"{}", timeout=10)
                        end = time.monotonic() + p.deadline
                        started, cpu = time.perf_counter(), time.process_time()
                        done = 0
                        for _ in range(p.naive_n):
                            published = service.publisher.publish(
                                account.id, EVENT_TYPE, self.sample
                            )
                            post(
                                r.url("naive"),
                                data=sample_body(self.sample, done, published.id),
                                headers={
                                    "Content-Type": "application/json",
                                    "webhook-id": published.id,
                                },
                                timeout=10,
                            ).raise_for_status()
                            done += 1
                            if time.monotonic() > end:
                                break
                        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                        results[label].append(
                            self.show(
                                f"naive, {label}, run {k + 1}",
                                {
                                    "n": done,
                                    "seconds": seconds,
                                    "rate": done / seconds,
                                    "cpu_us": cpu / done * 1e6,
                                    "errors": 0,
                                },
                            )
                        )
        finally:
            service.close()
        self.report.raw["naive"] = results
        plain = statistics.median(x["rate"] for x in results["requests.post"])
        session_rate = statistics.median(x["rate"] for x in results["Session"])
        hookkit = getattr(self, "hookkit_rate", None)
        if hookkit is None:
            self.report.add(Row("I4 naive inline (requests.post)", rate_text(plain)))
            return
        self.report.add(
            Row(
                "I4 hookkit delivery / naive inline",
                f"{hookkit / plain:.1f}x",
                f"naive {rate_text(plain)}",
                f"{hookkit / plain:.1f}x",
                ">= 10x",
                hookkit / plain >= 10,
            )
        )
        self.report.add(
            Row(
                "I4 ... naive with a Session (info)",
                rate_text(session_rate),
                f"hookkit {rate_text(hookkit)}",
                f"{hookkit / session_rate:.1f}x",
            )
        )
        if self.fastest_raw is not None:
            name, base = self.fastest_raw
            self.report.add(
                Row(
                    "I4 ... ceiling: fastest raw / naive (info)",
                    f"{base / plain:.1f}x",
                    f"{name} {rate_text(base)}",
                    f"{base / plain:.1f}x",
                )
            )
        publish = getattr(self, "publish_rate", None)
        if publish is not None:
            self.report.add(
                Row(
                    "I4 hookkit publish / naive (info)",
                    rate_text(publish),
                    f"naive {rate_text(plain)}",
                    f"{publish / plain:.1f}x",
                )
            )

    # 5. latency --------------------------------------------------------------------------------

    def latency(self) -> None:
        p, r = self.plan, self.rcv
        title(
            f"I5. publish-to-receipt latency at {p.latency_rate:g} events/s "
            f"for {p.latency_seconds:g}s"
        )
        r.reset("latraw")
        sent = raw_paced(r.url("latraw"), self.sample, p.latency_rate, p.latency_seconds, "lr")
        r.wait_count("latraw", len(sent), 15)
        ids, times = r.arrivals("latraw")
        raw_lat = [t - sent[i] for i, t in zip(ids, times, strict=True) if i in sent]
        raw_p = {q: percentile(raw_lat, q) for q in (50, 95, 99)}
        say(
            "  raw aiohttp paced: " + ", ".join(f"p{q} {ms(v)}" for q, v in raw_p.items()),
        )

        service = new_service(self.tmp, "latency")
        published: dict[str, tuple[float, float]] = {}
        try:
            account = ensure_account(service.store, "bench")
            subscribe(service, account.id, r.url("lat"))
            warm_up(service, account.id, self.sample, p.warmup, p.deadline)
            r.reset("lat")
            start_worker(service)
            try:
                total = int(p.latency_rate * p.latency_seconds)
                start = time.monotonic()
                behind = 0.0
                for i in range(total):
                    pause = start + i / p.latency_rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    else:
                        behind = max(behind, -pause)
                    at = time.time()
                    event_id = service.publisher.publish(account.id, EVENT_TYPE, self.sample).id
                    published[event_id] = (at, time.time())
                achieved = total / (time.monotonic() - start)
                stats = r.wait_count("lat", total, 30)
            finally:
                stop_worker(service)
            ids, times = r.arrivals("lat")
            timeline = delivery_timeline(service)
        finally:
            service.close()
        lat, stages = [], {"publish call": [], "queued until sent": [], "send to arrival": []}
        for delivery_id, arrived in zip(ids, times, strict=True):
            event_id, sent_at = timeline.get(delivery_id, ("", 0.0))
            if event_id not in published:
                continue
            called, returned = published[event_id]
            lat.append(arrived - called)
            stages["publish call"].append(returned - called)
            stages["queued until sent"].append(sent_at - returned)
            stages["send to arrival"].append(arrived - sent_at)
        for stage, values in stages.items():
            say(
                f"  {stage:>18}: "
                + ", ".join(f"p{q} {ms(percentile(values, q))}" for q in (50, 95, 99)),
            )
        missing = total - stats["distinct"]
        say(
            f"  published {total} at {achieved:.0f}/s (max lag behind schedule {ms(behind)}); "
            f"received {stats['distinct']} distinct, {missing} missing",
        )
        self.report.raw["latency"] = {
            "raw": raw_p,
            "hookkit": {q: percentile(lat, q) for q in (50, 95, 99)},
            "achieved_rate": achieved,
            "missing": missing,
            "stages": {k: {q: percentile(v, q) for q in (50, 95, 99)} for k, v in stages.items()},
        }
        for q, limit in ((50, 0.020), (95, 0.050), (99, 0.200)):
            value = percentile(lat, q)
            self.report.add(
                Row(
                    f"I5 latency p{q} @{p.latency_rate:g}/s",
                    ms(value) + ("" if missing == 0 else f" ({missing} lost)"),
                    f"raw aiohttp {ms(raw_p[q])}",
                    f"{value / raw_p[q]:.1f}x" if raw_p[q] > 0 else "",
                    f"<= {limit * 1000:g} ms",
                    value <= limit and missing == 0,
                )
            )

    # 6. fan-out --------------------------------------------------------------------------------

    def fanout(self) -> None:
        p, r = self.plan, self.rcv
        title(f"I6. one event fanned out to {p.fanout_hooks} subscriptions")
        service = new_service(self.tmp, "fanout")
        try:
            many = ensure_account(service.store, "fan")
            one = ensure_account(service.store, "single")
            started = time.perf_counter()
            for i in range(p.fanout_hooks):
                subscribe(service, many.id, r.url("fan", 0, f"h{i}"))
            subscribe_seconds = time.perf_counter() - started
            subscribe(service, one.id, r.url("fan1"))
            for _ in range(5):  # warm both paths
                service.publisher.publish(one.id, EVENT_TYPE, self.sample)
            service.publisher.publish(many.id, EVENT_TYPE, self.sample)

            def timed(account_id: str, n: int) -> list[float]:
                out = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    published = service.publisher.publish(account_id, EVENT_TYPE, self.sample)
                    out.append(time.perf_counter() - t0)
                    assert published.deliveries in (1, p.fanout_hooks), published
                return out

            single = timed(one.id, p.single_publishes)
            fan = timed(many.id, p.fanout_publishes)
            # Deliver everything that fan-out queued: many hooks, one host.
            queued = count_status(service, "pending")
            started_at = time.time()
            start_worker(service)
            try:
                seen = wait_delivered(service, queued, p.deadline)
                finished = last_recorded(service, started_at) or time.time()
            finally:
                stop_worker(service)
        finally:
            service.close()
        single_ms = statistics.median(single)
        fan_ms = statistics.median(fan)
        drain_rate = seen / (finished - started_at)
        say(
            f"  {p.fanout_hooks} subscribes took {subscribe_seconds:.2f}s; publish to 1 hook: "
            f"median {ms(single_ms)}; to {p.fanout_hooks}: median {ms(fan_ms)}, "
            f"max {ms(max(fan))} over {len(fan)}; drained {seen}/{queued} in "
            f"{finished - started_at:.2f}s",
        )
        self.report.raw["fanout"] = {
            "single_publish_s": single,
            "fanout_publish_s": fan,
            "subscribe_s": subscribe_seconds,
            "drain_rate": drain_rate,
            "drained": seen,
            "queued": queued,
        }
        self.report.add(
            Row(
                f"I6 publish to {p.fanout_hooks} subscriptions",
                ms(fan_ms),
                f"1 subscription {ms(single_ms)}",
                f"{fan_ms / single_ms:.0f}x",
                "<= 100 ms",
                max(fan) <= 0.100,
            )
        )
        if self.fastest_raw is not None:
            name, base_rate = self.fastest_raw
            self.report.add(
                Row(
                    f"I6 ... delivering them ({p.fanout_hooks} hooks, info)",
                    rate_text(drain_rate) + ("" if seen == queued else " INCOMPLETE"),
                    f"{name} {rate_text(base_rate)}",
                    times(drain_rate / base_rate),
                )
            )

    def memory(self) -> None:
        """Worker memory draining backlogs, in a fresh process (bench/memory.py)."""
        memory.measure(self.plan, self.rcv, self.report)

    # 8. hanging endpoints ----------------------------------------------------------------------

    def hanging(self) -> None:
        """10 endpoints (hosts), one of which never answers: do the other nine keep up?

        Each hook targets its own receiver port: hookkit counts its per-host limit by host and
        port, so these are 10 different hosts, all on 127.0.0.1. Default concurrency settings
        (`max_in_flight` 64, `max_per_host` 8), a 2 s read timeout, no retries and no
        disabling of failing hooks, so the hanging hook keeps taking slots all along.
        """
        p = self.plan
        title("I8. 1 of 10 endpoints hanging until the read timeout (default limits)")
        rounds = []
        for k in range(p.repeats):
            rates = {
                label: self._hanging_run(hang, k)
                for label, hang in (("all healthy", False), ("1 of 10 hanging", True))
            }
            ratio = rates["1 of 10 hanging"] / rates["all healthy"]
            rounds.append({"rates": rates, "ratio": ratio})
            say(f"    round {k + 1}: hanging / healthy = {times(ratio)}")
        self.report.raw["hanging"] = rounds
        mid = median_by(rounds, lambda x: x["ratio"])
        rnd = f" (round {rounds.index(mid) + 1})" if len(rounds) > 1 else ""
        rates = mid["rates"]
        self.report.add(
            Row(
                "I8 healthy hooks, 1 of 10 hanging" + rnd,
                rate_text(rates["1 of 10 hanging"]),
                f"none hanging {rate_text(rates['all healthy'])}",
                times(mid["ratio"]),
                ">= 0.8x",
                mid["ratio"] >= 0.8,
            )
        )

    def _hanging_run(self, hang: bool, k: int) -> float:
        """The 9 healthy hooks' rate draining a backlog, the 10th hook hanging or not."""
        p, r = self.plan, self.rcv
        defaults = Settings()
        run = f"hang{int(hang)}_{k}"
        service = new_service(
            self.tmp,
            run,
            max_in_flight=defaults.max_in_flight,
            max_per_host=defaults.max_per_host,
            read_timeout=2.0,
            retry_schedule=(),
            failure_threshold=0,
        )
        try:
            account = ensure_account(service.store, "bench")
            for i in range(9):
                subscribe(service, account.id, r.url(run, 0, f"h{i}", host=i))
            warm_up(service, account.id, self.sample, 20, p.deadline, per_event=9)
            subscribe(service, account.id, r.url(run + "x", "hang" if hang else 0, host=9))
            r.reset(run)
            publish_many(service, account.id, self.sample, p.hang_events, p.deadline)
            healthy = 9 * p.hang_events
            started = time.time()
            start_worker(service)
            try:
                stats = r.wait_count(run, healthy, p.deadline)
            finally:
                # Stopping waits for in-flight sends (up to the read timeout).
                stop_worker(service)
        finally:
            service.close()
        seconds = (stats["last"] or time.time()) - started
        rate = stats["distinct"] / seconds
        label = "1 of 10 hanging" if hang else "all healthy"
        say(
            f"  {label}, round {k + 1}: the 9 healthy hooks got {stats['distinct']}/{healthy} "
            f"in {seconds:.2f}s = {rate_text(rate)}"
        )
        return rate
