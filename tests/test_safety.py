"""Safety of the delivery engine, end to end: target URL checks at subscribe and at connect
time, retry jitter, the global in-flight limit and the cost of a hanging receiver.

Production mode (`allow_private_targets=False`) is built explicitly where it matters: the
other tests run in development mode because their receivers live on 127.0.0.1. Assertions
bound times from below or by what the test itself observed, never by how fast a machine is
(except where a bound is the behaviour, with a generous margin).
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from connector.delivery.attempts import RetryPolicy
from connector.service import Hookkit
from connector.testing import Receiver, Reply

from .conftest import _key, deliveries_of, publish, subscribe, wait_until
from .test_errors import _problem
from .test_isolation import _seconds
from .test_log import hook_of, settled
from .test_options import api

ALIASES = ["target_url", "targetUrl", "hookUrl", "webhookUrl", "target", "url"]
PUBLIC = "https://example.com/hook"  # never sent to: these tests publish nothing to it

# Each URL's host spelled as users (or attackers) might, and the reason it is refused.
UNSAFE = [
    ("https://127.0.0.1/", "loopback"),
    ("https://10.0.0.5/", "private"),
    ("https://169.254.169.254/latest", "cloud metadata"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://2130706433/", "loopback"),
    ("https://0x7f.1/", "loopback"),
    ("https://localhost/", "loopback"),
]

# Cloud metadata endpoints hand out credentials: refused even in development mode.
METADATA = [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/",
    "http://169.254.170.2/v2/credentials",
    "http://100.100.100.200/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
]


@pytest.fixture
def production(make_app):
    """A client and acme's headers for a service in production mode (no private targets)."""
    return api(make_app, allow_private_targets=False)


def _refused(response, path: str, reason: str) -> None:
    body = _problem(response, 422, "unsafe_target_url")
    (error,) = body["errors"]
    assert error["path"] == path
    assert reason in error["message"], error["message"]


# --- at subscribe time ------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ALIASES)
def test_production_refuses_plain_http_at_the_alias_path(production, alias):
    """In production an `http://` target is a 422 unsafe_target_url at the alias it came as."""
    client, auth = production
    response = client.post(
        "/v1/hooks", json={"event": "session", alias: "http://example.com/hook"}, headers=auth
    )
    _refused(response, f"$.{alias}", "must use https")


@pytest.mark.parametrize(("url", "reason"), UNSAFE)
def test_production_refuses_internal_hosts_in_any_spelling(production, url, reason):
    """Loopback, private and metadata hosts, also as decimal, hex, IPv4-mapped or `localhost`,
    are refused with the reason, and no hook is created."""
    client, auth = production
    response = client.post("/v1/hooks", json={"event": "session", "url": url}, headers=auth)
    _refused(response, "$.url", reason)
    assert client.get("/v1/hooks", headers=auth).json["pagination"]["total"] == 0


@pytest.mark.parametrize(("url", "reason"), [("http://example.com/hook", "https"), *UNSAFE[:2]])
def test_patching_a_hook_to_an_unsafe_url_changes_nothing(production, url, reason):
    """A PATCH to an unsafe target URL is a 422 and leaves the hook exactly as it was."""
    client, auth = production
    hook = subscribe(client, auth, PUBLIC)
    before = hook_of(client, auth, hook)
    response = client.patch(
        f"/v1/hooks/{hook['id']}", json={"target_url": url, "status": "paused"}, headers=auth
    )
    _refused(response, "$.target_url", reason)
    assert hook_of(client, auth, hook) == before


@pytest.mark.parametrize("url", METADATA)
def test_development_mode_still_refuses_metadata_endpoints(client, auth, url):
    """`allow_private_targets` lets loopback through but never a cloud metadata endpoint."""
    response = client.post("/v1/hooks", json={"event": "session", "url": url}, headers=auth)
    _refused(response, "$.url", "cloud metadata")


# --- at connect time --------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_production_sender_refuses_internal_addresses_at_connect_time(make_app, receiver, host):
    """A stored hook whose host is (or resolves to) loopback, as after DNS rebinding, is
    refused when the production sender connects: the attempt logs `refused:` and the
    receiver gets nothing."""
    development = make_app(embedded_worker=False)  # the subscribe-time check lets it in
    client, auth = development.test_client(), _key(development, "acme")
    # https://: production refuses plain http:// before connecting (tests/test_hardening.py)
    target = receiver.url.replace("http://127.0.0.1", f"https://{host}")
    hook = subscribe(client, auth, target + "/hook")
    Hookkit.of(development).close()

    client, auth = api(make_app, allow_private_targets=False, retry_schedule="")
    publish(client, auth)
    (delivery,) = settled(client, auth, hook, 1)
    (attempt,) = delivery["attempts"]
    assert attempt["error"].startswith("refused:"), attempt["error"]
    assert "loopback" in attempt["error"]
    assert attempt["response_code"] is None
    assert receiver.requests == []


# --- retry jitter -----------------------------------------------------------------------------

JITTERED = {"retry_schedule": "30s", "retry_jitter": 0.5}
MS = 0.001  # API times are ISO-8601 with milliseconds


def test_a_retry_is_due_within_the_jitter_window(make_app):
    """With a 30 s retry and ±50 % jitter, the next retry is due 15 to 45 s after the attempt."""
    client, auth = api(make_app, **JITTERED)
    with Receiver([Reply(500)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        last = wait_until(lambda: hook_of(client, auth, hook)["last_delivery"])
        seen = time.time()
    assert last["status"] == "retrying"
    due = _seconds(last["next_retry_at"])
    # The delay starts when the attempt ends: after its `at`, before the test saw the result.
    assert _seconds(last["at"]) + 15 - MS <= due <= seen + 45


def test_jitter_spreads_the_retries_of_deliveries_failing_together(make_app):
    """Eight deliveries failing at once get different retry delays: their offsets spread over
    more than a second, where without jitter only the attempts' durations would differ."""
    client, auth = api(make_app, **JITTERED)
    with Receiver([Reply(500)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        for _ in range(8):
            publish(client, auth)

        def first_attempts_logged():
            items = deliveries_of(client, auth, hook["id"], "?limit=8")["deliveries"]
            return len(items) == 8 and all(d["attempts"] for d in items) and items

        deliveries = wait_until(first_attempts_logged)
    offsets = [
        _seconds(d["next_attempt_at"]) - _seconds(d["attempts"][0]["at"]) for d in deliveries
    ]
    assert all(offset >= 15 - MS for offset in offsets), offsets
    assert max(offsets) - min(offsets) > 1.0, offsets


@pytest.mark.parametrize(
    ("schedule", "attempt", "draw", "due"),
    [
        ((10.0, 20.0), 1, 0.0, 1005.0),  # delay * (1 - jitter)
        ((10.0, 20.0), 1, 0.5, 1010.0),  # the delay itself
        ((10.0, 20.0), 1, 1.0, 1015.0),  # delay * (1 + jitter)
        ((10.0, 20.0), 2, 0.0, 1010.0),
        ((10.0, 20.0), 2, 1.0, 1030.0),
        ((10.0, 20.0), 3, 0.5, None),  # the last attempt was made
        ((), 1, 0.5, None),  # no retries at all
    ],
)
def test_retry_policy_applies_the_drawn_jitter(schedule, attempt, draw, due):
    """`next_at` scales the attempt's delay by 1 ± jitter as the injected draw says, and
    answers None once the schedule is used up."""
    policy = RetryPolicy(schedule, jitter=0.5)
    assert policy.next_at(attempt, 1000.0, rng=lambda: draw) == due


# --- limits and timeouts ----------------------------------------------------------------------


class Concurrency:
    """A reply for several receivers: holds each request `hold` seconds, counting how many
    are held at once across all of them."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.current = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, _request) -> Reply:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        time.sleep(self.hold)
        with self._lock:
            self.current -= 1  # before the answer leaves, so the sender's count is never lower
        return Reply()


def test_max_in_flight_bounds_requests_across_all_hosts(make_app):
    """With `max_in_flight: 2` and room for 10 per host, four slow receivers (four hosts)
    with eight deliveries queued never see more than 2 requests open at once, and do see 2."""
    settings = {"max_in_flight": 2, "max_per_host": 10}
    queued = make_app(embedded_worker=False, **settings)  # queue everything first
    client, auth = queued.test_client(), _key(queued, "acme")
    held = Concurrency(hold=0.5)
    with contextlib.ExitStack() as stack:
        receivers = [stack.enter_context(Receiver(held)) for _ in range(4)]
        for receiver in receivers:
            subscribe(client, auth, receiver.url)
        for _ in range(2):
            publish(client, auth)
        make_app(**settings)  # a worker starts and finds all eight due at once
        for receiver in receivers:
            receiver.wait_for(2)
    assert held.peak == 2


def test_a_hanging_receiver_costs_at_most_the_timeouts(make_app):
    """A receiver that never answers holds an attempt for the read timeout and no longer:
    it is logged as timed out within connect + read timeout plus a generous margin."""
    client, auth = api(make_app, connect_timeout="1s", read_timeout="700ms", retry_schedule="")
    with Receiver([Reply(delay=10)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        (delivery,) = settled(client, auth, hook, 1)
    (attempt,) = delivery["attempts"]
    assert attempt["response_code"] is None
    assert "timed out" in attempt["error"], attempt["error"]
    assert 0.9 * 700 <= attempt["duration_ms"] < (1000 + 700) + 3000
