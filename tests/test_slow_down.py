"""Receivers that ask to slow down: a 429 or 503 with `Retry-After` (delay-seconds or an
HTTP-date) puts the next attempt no sooner than asked, capped at an hour, still counted in the
retry schedule; and the worker eases off that receiver's host meanwhile.

Real receivers on 127.0.0.1 and the service's `ManualClock`: a retry that must not be sent
yet is proven unsent with the `caught_up` fence after moving the clock just short of the asked
time, then sent once the clock passes it."""

from __future__ import annotations

import threading
import time
from email.utils import formatdate

import pytest

from connector.delivery.attempts import MAX_RETRY_AFTER
from connector.testing import Receiver, Reply

from .conftest import _key, all_delivered, caught_up, deliveries_of, publish, subscribe, wait_until


def _first_attempt(client, auth, hook_id):
    """The delivery once its first attempt is recorded."""

    def recorded():
        found = deliveries_of(client, auth, hook_id)["deliveries"]
        return found and found[0]["attempts"] and found[0]

    return wait_until(recorded)


def _asked_then_sent(make_app, clock, retry_after, *, too_early, late_enough, status=429):
    """Answer `status` with `Retry-After: retry_after`, then 200; check the retry is not sent
    after `too_early` seconds on the service's clock and is sent after `late_enough` more.
    The schedule (200 ms, 200 ms) alone would retry long before either."""
    app = make_app(clock=clock)
    client, auth = app.test_client(), _key(app, "acme")
    replies = [Reply(status, b"slow down", headers={"Retry-After": retry_after}), Reply(200)]
    with Receiver(replies) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        receiver.wait_for(1)
        delivery = _first_attempt(client, auth, hook["id"])
        (first,) = delivery["attempts"]
        assert (first["response_code"], first["outcome"]) == (status, "retrying")

        clock.advance(too_early)
        caught_up(client, auth)
        assert len(receiver.requests) == 1, "retried before the receiver's Retry-After"

        clock.advance(late_enough)
        receiver.wait_for(2)
        wait_until(lambda: all_delivered(client, auth, hook["id"], 1))
    assert "Retry-After" in first["error"]  # the log says why the retry waited
    return first


def test_retry_after_seconds_puts_off_the_retry(make_app, clock):
    """`429` + `Retry-After: 120`: nothing at 119 s, the retry after 120 s, then delivered."""
    first = _asked_then_sent(make_app, clock, "120", too_early=119, late_enough=2)
    assert "waiting at least 120s" in first["error"]


def test_retry_after_on_503_counts_too(make_app, clock):
    """`503 Service Unavailable` with `Retry-After` is honoured like a 429."""
    _asked_then_sent(make_app, clock, "30", too_early=29, late_enough=2, status=503)


def test_retry_after_as_an_http_date(make_app, clock):
    """The HTTP-date form, read against the service's clock: five minutes from now."""
    when = formatdate(clock() + 300, usegmt=True)
    _asked_then_sent(make_app, clock, when, too_early=298, late_enough=4)


def test_an_absurd_retry_after_is_capped_at_an_hour(make_app, clock):
    """`Retry-After: 10**12` (about 31,000 years) waits the cap, one hour, and no longer."""
    assert MAX_RETRY_AFTER == 3600
    first = _asked_then_sent(
        make_app, clock, "1000000000000", too_early=MAX_RETRY_AFTER - 2, late_enough=4
    )
    assert "capped" in first["error"]


def test_retry_after_is_still_one_of_the_hooks_retries(make_app, clock):
    """A hook without retries fails on a 429 as usual: Retry-After adds no attempt."""
    app = make_app(clock=clock)
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver([Reply(429, headers={"Retry-After": "5"})]) as receiver:
        hook = subscribe(client, auth, receiver.url, retry_schedule="none")
        publish(client, auth)
        delivery = _first_attempt(client, auth, hook["id"])
        clock.advance(60)
        caught_up(client, auth)
    assert delivery["status"] == "failed"
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed"]
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("value", ["soon", "-5", ""])
def test_an_unreadable_retry_after_keeps_the_schedule(make_app, clock, value):
    """A Retry-After that is neither delay-seconds nor a date changes nothing."""
    app = make_app(clock=clock)
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver([Reply(429, headers={"Retry-After": value}), Reply(200)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        _first_attempt(client, auth, hook["id"])
        clock.advance(1)  # past the 200 ms schedule
        receiver.wait_for(2)
        wait_until(lambda: all_delivered(client, auth, hook["id"], 1))


class _Concurrency:
    """Replies after `hold` seconds and remembers how many requests were in flight at most."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.most = 0

    def __call__(self, _request) -> Reply:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.hold)
        with self._lock:
            self.now -= 1
        return Reply(200)


def test_a_host_that_asks_to_slow_down_gets_fewer_requests_at_once(make_app, clock):
    """After a 429 with Retry-After, the worker sends that host at most half its per-host
    slots at once (4 → 2) until the asked time; after it, all 4 again."""
    app = make_app(clock=clock, max_per_host=4)
    client, auth = app.test_client(), _key(app, "acme")
    counting = _Concurrency(hold=0.5)
    with Receiver([Reply(429, headers={"Retry-After": "600"})]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        _first_attempt(client, auth, hook["id"])
        receiver.reply_with(counting)

        for _ in range(6):
            publish(client, auth)
        wait_until(lambda: len(receiver.requests) == 7)
        wait_until(lambda: counting.now == 0)
        assert counting.most == 2, f"{counting.most} requests at once to a slowed host"

        clock.advance(601)  # the asked time has passed: full speed again
        counting.reset()
        for _ in range(8):
            publish(client, auth)
        wait_until(lambda: all_delivered(client, auth, hook["id"], 15), timeout=20)
    assert counting.most >= 3, f"only {counting.most} at once after the Retry-After time"
