"""hookkit measured as a product drives it: the running service over HTTP.

hookkit runs as `scripts/serve` runs it (`python -m connector serve`: gunicorn, the
delivery worker in-process) on a temporary SQLite file with default settings except
HOOKKIT_ALLOW_PRIVATE_TARGETS=true (the receiver is on 127.0.0.1) and
HOOKKIT_API_RATE_LIMIT=off (the per-key limit would cap the client, not measure hookkit).
A key comes from `python -m connector keys create`, hooks are subscribed with
`POST /v1/hooks`, events published with `POST /v1/events` or `/v1/events/batch` by the
publishing client (bench/client.py). Delivery rates run from the first publish to the last
delivery arriving at the receiver (its own clock: arrival times with the webhook-id).

The PostgreSQL scale-out measurement (`pg`) is in bench/scaleout.py; the processes in
bench/service.py.

Every process started here is stopped in a `finally`; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import scaleout
from baselines import BareFlask, raw_aiohttp, raw_paced
from client import drive
from common import (
    SLOW_MS,
    Plan,
    Receiver,
    Report,
    Row,
    median_by,
    ms,
    percentile,
    rate_text,
    say,
    times,
    title,
)
from service import Service, batch_bodies, event_bodies, settings_of


class BlackBox:
    """The black-box measurements; one SQLite service serves all but `pg`."""

    def __init__(self, plan: Plan, rcv: Receiver, tmp: Path, report: Report) -> None:
        self.plan, self.rcv, self.tmp, self.report = plan, rcv, tmp, report
        self._service: Service | None = None
        self._sample: dict[str, Any] | None = None

    @property
    def service(self) -> Service:
        if self._service is None:
            self._service = Service(self.tmp, "bb", f"sqlite:///{self.tmp / 'blackbox.db'}")
            self.report.raw["blackbox_settings"] = settings_of(self._service)
        return self._service

    @property
    def sample(self) -> dict[str, Any]:
        if self._sample is None:
            self._sample = self.service.sample()
        return self._sample

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
            self._service = None

    def raw(self, delay: int, n: int, prefix: str) -> dict[str, Any]:
        result = raw_aiohttp(
            self.rcv.url(f"raw_{prefix}", delay),
            n,
            self.sample,
            concurrency=64,
            deadline=self.plan.deadline,
            prefix=prefix,
        )
        say(
            f"  raw aiohttp x64, {delay} ms: {result['n']} in {result['seconds']:.2f}s = "
            f"{rate_text(result['rate'])} ({result['errors']} errors)"
        )
        return result

    def delivered(
        self,
        run: str,
        bodies: list[bytes],
        path: str,
        expected: int,
        *,
        pace: float | None = None,
        keep_answers: bool = False,
    ) -> dict[str, Any]:
        """Publish `bodies` to `path` with the client; wait until `expected` distinct
        deliveries arrived at `run`; rate from the first publish to the last arrival."""
        svc, p = self.service, self.plan
        self.rcv.reset(run)
        sent = drive(
            svc.base + path,
            bodies,
            headers=svc.headers,
            threads=p.client_threads,
            deadline=p.deadline,
            pace=pace,
            keep_answers=keep_answers,
            warm_url=f"{svc.base}/v1/account",
        )
        stats = self.rcv.wait_count(run, expected, p.deadline, distinct=True)
        last = stats["last"] or time.time()
        seconds = last - sent["first"]
        accepted = sum(count for code, count in sent["statuses"].items() if code in (200, 202))
        per_request = expected / max(len(bodies), 1)
        return {
            "n": expected,
            "received": stats["distinct"],
            "received_total": stats["count"],
            "seconds": seconds,
            "rate": stats["distinct"] / seconds if seconds > 0 else 0.0,
            "publish_rate": accepted * per_request / sent["seconds"] if sent["seconds"] else 0.0,
            "requests": sent["n"],
            "accepted_requests": accepted,
            "statuses": sent["statuses"],
            "errors": sent["errors"],
            "complete": stats["distinct"] == expected,
            "client": sent,
        }

    def warm(self, run: str, count: int) -> None:
        """Publish `count` events to the hooks of `run` and wait for them: connections,
        caches and compiled statements are warm before a timed run."""
        self.delivered(run, event_bodies(self.sample, count), "/v1/events", count)
        self.rcv.reset(run)

    def show(self, label: str, result: dict[str, Any]) -> None:
        extra = "" if result["complete"] else f", INCOMPLETE: {result['received']} received"
        say(
            f"  {label}: {result['received']}/{result['n']} delivered in "
            f"{result['seconds']:.2f}s = {rate_text(result['rate'])}; accepted "
            f"{rate_text(result['publish_rate'])} events, statuses {result['statuses']}, "
            f"{result['errors']} client errors{extra}"
        )

    def versus_raw(
        self,
        name: str,
        run: str,
        delay: int,
        raw_n: int,
        bodies: list[bytes],
        path: str,
        expected: int,
        target: float,
    ) -> None:
        """Raw aiohttp, then hookkit, back to back; `repeats` rounds, the median ratio."""
        svc = self.service
        hook_id = svc.subscribe(self.rcv.url(run, delay))
        rounds = []
        try:
            self.warm(run, self.plan.warmup)
            for k in range(self.plan.repeats):
                raw = self.raw(delay, raw_n, f"{run}{k}")
                hook = self.delivered(run, bodies, path, expected)
                self.show(f"hookkit, round {k + 1}", hook)
                ratio = hook["rate"] / raw["rate"] if hook["complete"] and raw["rate"] else 0.0
                rounds.append({"raw": raw, "hook": hook, "ratio": ratio})
        finally:
            svc.unsubscribe(hook_id)
        for r in rounds:
            r["hook"].pop("client", None)
        self.report.raw[f"blackbox_{run}"] = rounds
        mid = median_by(rounds, lambda r: r["ratio"])
        rnd = f" (round {rounds.index(mid) + 1})" if len(rounds) > 1 else ""
        hook, raw = mid["hook"], mid["raw"]
        self.report.add(
            Row(
                name + rnd,
                rate_text(hook["rate"]) + ("" if hook["complete"] else " INCOMPLETE"),
                f"raw aiohttp x64 {rate_text(raw['rate'])}",
                times(mid["ratio"]),
                f">= {target:g}x",
                mid["ratio"] >= target,
            )
        )
        self.report.add(
            Row(
                f"   ... events accepted by the API{rnd} (info)",
                rate_text(hook["publish_rate"]),
                "",
                "",
            )
        )

    # -- the measurements ----------------------------------------------------------------------

    def api(self) -> None:
        """Requests/s of POST /v1/events (an event type nobody subscribed: the event is stored,
        nothing is delivered) against the bare Flask endpoint, the same client."""
        p, svc = self.plan, self.service
        title(
            f"B1. publish API alone vs a bare Flask endpoint (same gunicorn settings), "
            f"{p.client_threads} client threads, {p.api_n} requests"
        )
        bodies = event_bodies(self.sample, p.api_n)
        bare = BareFlask(self.tmp / "bare.log")
        rounds = []
        try:

            def run(url: str, warm: str, headers: dict[str, str], n: int) -> dict[str, Any]:
                return drive(
                    url,
                    bodies[:n],
                    headers=headers,
                    threads=p.client_threads,
                    deadline=p.deadline,
                    warm_url=warm,
                )

            run(bare.url, f"{bare.base}/healthz", {}, p.warmup)
            run(f"{svc.base}/v1/events", f"{svc.base}/v1/account", svc.headers, p.warmup)
            for k in range(p.repeats):
                flask = run(bare.url, f"{bare.base}/healthz", {}, p.api_n)
                hook = run(f"{svc.base}/v1/events", f"{svc.base}/v1/account", svc.headers, p.api_n)
                ok = hook["statuses"].get(202, 0) == p.api_n
                ratio = hook["rate"] / flask["rate"] if flask["rate"] and ok else 0.0
                say(
                    f"  round {k + 1}: bare Flask {rate_text(flask['rate'])} "
                    f"{flask['statuses']}, hookkit {rate_text(hook['rate'])} {hook['statuses']}"
                    f" -> {times(ratio)}"
                )
                for r in (flask, hook):
                    r.pop("sent"), r.pop("answers")
                rounds.append({"bare": flask, "hook": hook, "ratio": ratio, "ok": ok})
        finally:
            bare.close()
        self.report.raw["blackbox_api"] = rounds
        mid = median_by(rounds, lambda r: r["ratio"])
        rnd = f" (round {rounds.index(mid) + 1})" if len(rounds) > 1 else ""
        self.report.add(
            Row(
                "B1 publish API, 1 event/request" + rnd,
                rate_text(mid["hook"]["rate"]) + ("" if mid["ok"] else " (not all 202)"),
                f"bare Flask {rate_text(mid['bare']['rate'])}",
                times(mid["ratio"]),
                ">= 0.7x",
                mid["ratio"] >= 0.7,
            )
        )

    def single(self) -> None:
        p = self.plan
        title(f"B2. black box, single-event publishes, 0 ms receiver, {p.single_n} events")
        self.versus_raw(
            "B2 single-event publishes, 0 ms",
            "bb_single",
            0,
            p.raw_aio_n,
            event_bodies(self.sample, p.single_n),
            "/v1/events",
            p.single_n,
            0.25,
        )

    def single50(self) -> None:
        p = self.plan
        title(
            f"B3. black box, single-event publishes, {SLOW_MS} ms receiver (one host), "
            f"{p.single_slow_n} events"
        )
        self.versus_raw(
            f"B3 single-event publishes, {SLOW_MS} ms, 1 host",
            "bb_slow",
            SLOW_MS,
            p.slow_n,
            event_bodies(self.sample, p.single_slow_n),
            "/v1/events",
            p.single_slow_n,
            0.7,
        )

    def batch(self) -> None:
        p = self.plan
        title(f"B4. black box, batches of {p.batch_size}, 0 ms receiver, {p.batch_n} events")
        self.versus_raw(
            f"B4 batch publishes of {p.batch_size}, 0 ms",
            "bb_batch",
            0,
            p.raw_aio_n,
            batch_bodies(self.sample, p.batch_n, p.batch_size),
            "/v1/events/batch",
            p.batch_n,
            0.5,
        )

    def batch50(self) -> None:
        """The delivery side over HTTP: batches keep the publish API out of the way (single
        events cannot be accepted faster than a bare Flask app answers, B1), so this shows
        what the adaptive per-host concurrency makes of one slow host."""
        p = self.plan
        title(
            f"B3b. black box, batches of {p.batch_size}, {SLOW_MS} ms receiver (one host), "
            f"{p.batch_slow_n} events"
        )
        self.versus_raw(
            f"B3b batch publishes of {p.batch_size}, {SLOW_MS} ms, 1 host",
            "bb_batch_slow",
            SLOW_MS,
            p.slow_n,
            batch_bodies(self.sample, p.batch_slow_n, p.batch_size),
            "/v1/events/batch",
            p.batch_slow_n,
            0.7,
        )

    def paced(self) -> None:
        """Publish-to-receipt at a steady rate: receiver arrival minus the moment the client
        sent the publish request, matched by the event id in the delivered envelope."""
        p, svc, r = self.plan, self.service, self.rcv
        total = int(p.latency_rate * p.latency_seconds)
        title(
            f"B5. black box publish-to-receipt latency at {p.latency_rate:g} events/s for "
            f"{p.latency_seconds:g}s ({total} single-event publishes)"
        )
        r.reset("bb_lat_raw")
        raw_sent = raw_paced(
            r.url("bb_lat_raw"), self.sample, p.latency_rate, p.latency_seconds, "blr"
        )
        r.wait_count("bb_lat_raw", len(raw_sent), 15)
        ids, arrived = r.arrivals("bb_lat_raw")
        raw_lat = [t - raw_sent[i] for i, t in zip(ids, arrived, strict=True) if i in raw_sent]
        raw_p = {q: percentile(raw_lat, q) for q in (50, 95, 99)}
        hook_id = svc.subscribe(r.url("bb_lat", 0) + "?record=event")
        try:
            self.warm("bb_lat", p.warmup)
            result = self.delivered(
                "bb_lat",
                event_bodies(self.sample, total),
                "/v1/events",
                total,
                pace=p.latency_rate,
                keep_answers=True,
            )
        finally:
            svc.unsubscribe(hook_id)
        client = result.pop("client")
        sent_at = {
            answer["id"]: at
            for answer, at in zip(client["answers"], client["sent"], strict=True)
            if isinstance(answer, dict) and "id" in answer
        }
        data = r.arrival_data("bb_lat")
        first: dict[str, float] = {}
        for event_id, at in zip(data["events"], data["times"], strict=True):
            first.setdefault(event_id, at)
        lat = [at - sent_at[e] for e, at in first.items() if e in sent_at]
        missing = total - len(lat)
        achieved = total / max(client["seconds"], 1e-9)
        hook_p = {q: percentile(lat, q) for q in (50, 95, 99)}
        say("  raw aiohttp paced: " + ", ".join(f"p{q} {ms(v)}" for q, v in raw_p.items()))
        say(
            "  hookkit: "
            + ", ".join(f"p{q} {ms(v)}" for q, v in hook_p.items())
            + f"; published at {achieved:.0f}/s (at most {ms(client['behind'])} behind "
            f"schedule), {missing} not received"
        )
        self.report.raw["blackbox_latency"] = {
            "raw": raw_p,
            "hookkit": hook_p,
            "achieved_rate": achieved,
            "missing": missing,
            "behind": client["behind"],
        }
        for q, limit in ((50, None), (95, 0.050), (99, None)):
            value = hook_p[q]
            self.report.add(
                Row(
                    f"B5 publish-to-receipt p{q} @{p.latency_rate:g}/s"
                    + ("" if limit else " (info)"),
                    ms(value) + ("" if missing == 0 else f" ({missing} lost)"),
                    f"raw aiohttp {ms(raw_p[q])}",
                    times(value / raw_p[q]) if raw_p[q] > 0 else "",
                    f"<= {limit * 1000:g} ms" if limit else "",
                    (value <= limit and missing == 0) if limit else None,
                )
            )

    def pg(self) -> None:
        """PostgreSQL scale-out: 1 vs 2 worker processes, exactly once (bench/scaleout.py)."""
        scaleout.measure(self.plan, self.rcv, self.tmp, self.report)
