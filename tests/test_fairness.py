"""Fairness of claims: no account, and no hook waiting on its rate limit, holds the worker.

A delivery whose rate-limit token is not due is put back with that due time instead of
waiting inside the worker, and a claim takes no more than its share of any one account
while another has work due. Real receivers on loopback; assertions compare what arrived
before what and what is still queued, never how fast something was.
"""

from __future__ import annotations

from datetime import datetime

from connector.delivery import outbox
from connector.service import Hookkit
from connector.testing import Receiver, Reply

from .conftest import _key, deliveries_of, publish, subscribe, wait_until

SLOW_RATE = 0.0001  # one request per ~2.8 hours: a second message waits ~10,000 s


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_the_first_message_of_a_rate_limited_hook_is_sent_at_once(make_app, receiver):
    """However low its rate limit, a hook's first message goes out at once; the second is
    scheduled for when its token is due (pending, no attempt made), not held by the worker."""
    app = make_app()
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url, rate_limit=SLOW_RATE)
    publish(client, auth)
    (first,) = receiver.wait_for(1, timeout=20)
    published_second = publish(client, auth)

    def second_scheduled():
        found = deliveries_of(client, auth, hook["id"])["deliveries"]
        waiting = [d for d in found if d["event_id"] == published_second["id"]]
        # Scheduled: the worker put it back with its token's due time, hours from now.
        return waiting and waiting[0]["next_attempt_at"] and waiting[0]

    def put_back():
        found = second_scheduled()
        return found if found and _seconds(found["next_attempt_at"]) > first.at + 3600 else None

    second = wait_until(put_back, timeout=20)
    assert second["status"] == "pending" and second["attempt_count"] == 0, second
    assert second["attempts"] == []
    assert len(receiver.requests) == 1


def test_rate_limited_hooks_of_one_account_do_not_stall_another(make_app):
    """130 hooks of one account with `rate_limit: 0.0001`, two events each: their first
    messages go at once, their second ones wait for their tokens in the queue, not in the
    worker's claim slots, so another account's event is delivered while they still wait."""
    app = make_app(max_in_flight=4)  # the worker holds 12 claims at once
    client = app.test_client()
    acme, globex = _key(app, "acme"), _key(app, "globex")
    with Receiver() as throttled, Receiver() as other:
        hooks = [
            subscribe(client, acme, f"{throttled.url}/{n}", rate_limit=SLOW_RATE)["id"]
            for n in range(130)
        ]
        publish(client, acme)
        publish(client, acme)
        publish(client, globex)  # no hook of globex yet: a fence, nothing to deliver
        subscribe(client, globex, other.url)
        publish(client, globex)

        (arrived,) = other.wait_for(1, timeout=30)
        firsts = throttled.wait_for(130, timeout=30)
        # Every hook had its first message; none had a second one, which still waits.
        assert len({r.path for r in firsts}) == 130
        assert len(throttled.requests) == 130

        def waiting():
            return [
                d
                for hook in hooks[:10]
                for d in deliveries_of(client, acme, hook)["deliveries"]
                if d["status"] == "pending"
            ]

        assert len(waiting()) == 10
        assert all(d["attempt_count"] == 0 for d in waiting())
        # Each one is (or soon is) put back, due when its token is: hours from now.
        wait_until(
            lambda: all(_seconds(d["next_attempt_at"]) > arrived.at + 3600 for d in waiting()),
            timeout=30,
        )
        assert len(throttled.requests) == 130


def test_one_accounts_backlog_does_not_starve_another(make_app):
    """An account whose backlog alone would fill the worker (slow receivers on several
    hosts, each below its host cap) gets no more than its share while another account has
    an event due: the other account's fresh event arrives long before the backlog drains."""
    settings = {"max_in_flight": 2, "max_per_host": 2}  # 4 claims held, up to 4 per host
    api = make_app(embedded_worker=False, **settings)  # queue the backlog first
    client = api.test_client()
    acme, globex = _key(api, "acme"), _key(api, "globex")
    slow = Reply(delay=0.3)
    with (
        Receiver(lambda _r: slow) as a,
        Receiver(lambda _r: slow) as b,
        Receiver(lambda _r: slow) as c,
        Receiver() as fresh,
    ):
        for receiver in (a, b, c):
            subscribe(client, acme, receiver.url)
        subscribe(client, globex, fresh.url)
        for _ in range(40):
            publish(client, acme)  # 120 deliveries, all older than globex's event
        make_app(**settings)  # the worker starts on the backlog
        wait_until(lambda: len(a.requests) + len(b.requests) + len(c.requests) >= 4)
        publish(client, globex)
        (arrived,) = fresh.wait_for(1, timeout=60)
        backlog = [r for r in a.requests + b.requests + c.requests if r.at < arrived.at]
    # Oldest first would send all 120 before it; a fair share lets it in after a few (a
    # worker that found no other account waiting skips fair shares for a second: at most
    # about 4 x (1 + 0.3) / 0.3 more).
    assert len(backlog) < 60, len(backlog)


def test_a_claim_reads_past_a_full_host_unless_told_not_to(make_app):
    """A full host's backlog is skipped in SQL by the claim's later rounds, so another
    host's delivery queued behind it is taken; a one-round claim (the worker's for a moment
    after the later rounds found nothing) stops at the full host. `nothing_past` says when
    those rounds found nothing."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    service = Hookkit.of(app)
    busy = subscribe(client, auth, "http://127.0.0.1:9/busy")["id"]
    for _ in range(30):
        publish(client, auth)  # to `busy` only: the other hook does not exist yet
    other = subscribe(client, auth, "http://127.0.0.2:9/other")["id"]
    publish(client, auth)  # one for each hook, the other's last in the queue
    now = service.clock() + 1

    def claim(owner: str, reach_past: bool) -> tuple[list[str], outbox.ClaimNotes]:
        notes = outbox.ClaimNotes()
        quota = outbox.Quota(total=10, per_host=2, reach_past=reach_past)
        jobs = outbox.claim(service.store, owner, now, 60, quota, notes=notes)
        return [job.subscription_id for job in jobs], notes

    taken, notes = claim("one-round", reach_past=False)
    assert taken == [busy, busy] and not notes.nothing_past
    taken, notes = claim("all-rounds", reach_past=True)
    assert sorted(taken) == sorted([busy, busy, other]) and not notes.nothing_past
    taken, notes = claim("nothing-else", reach_past=True)
    assert taken == [busy, busy] and notes.nothing_past
