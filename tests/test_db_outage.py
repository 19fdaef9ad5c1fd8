"""A PostgreSQL connection lost in the middle of a publish: retried once, else 503.

A restarted or failed-over PostgreSQL, or a backend terminated by an operator, breaks the
connection a request is using. The publish transaction runs once more on a fresh
connection; if that one breaks too, the answer is `503` problem+json with `Retry-After`,
never a 500, and nothing is stored twice or half.

The tests make the break happen for real: another session locks the `events` table, the
publish blocks on its INSERT, and the test terminates the blocked backend with
`pg_terminate_backend`.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from .conftest import SESSION, _key, wait_until

pytestmark = pytest.mark.postgres

_BLOCKED_INSERT = text(
    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
    "AND query ILIKE 'INSERT INTO events%' AND pid <> pg_backend_pid()"
)


class _Locker:
    """A second session holding `events` locked against inserts until released."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        # Autocommit: pg_stat_activity is a snapshot per transaction; each poll needs a new one.
        self.admin = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.holder = self.engine.connect()
        self.lock()

    def lock(self) -> None:
        self.tx = self.holder.begin()
        self.holder.execute(text("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"))

    def release(self) -> None:
        self.tx.rollback()

    def terminate_blocked_publish(self) -> None:
        """Wait for a publish blocked on the lock, then terminate its backend."""
        pid = wait_until(lambda: self.admin.execute(_BLOCKED_INSERT).scalar(), timeout=20)
        self.admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    def close(self) -> None:
        self.admin.close()
        self.holder.close()
        self.engine.dispose()


def _publish_in_background(client: Any, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {}

    def run() -> None:
        body = {"type": "session", "data": SESSION, **fields}
        answer["response"] = client.post("/v1/events", json=body, headers=auth)

    answer["thread"] = threading.Thread(target=run, daemon=True)
    answer["thread"].start()
    return answer


def _stored_events(client: Any, auth: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/v1/events?limit=100", headers=auth)
    assert response.status_code == 200, response.json
    return response.json["events"]  # type: ignore[no-any-return]


@pytest.fixture
def pg_client(pg_url: str, make_app: Any) -> Any:
    app = make_app(database_url=pg_url, embedded_worker=False)
    return app.test_client(), _key(app, "acme")


@pytest.mark.parametrize("key", [None, "order-1"], ids=["no-id", "with-id"])
def test_publish_retries_once_on_a_lost_connection(pg_url, pg_client, key) -> None:
    client, auth = pg_client
    locker = _Locker(pg_url)
    try:
        fields = {} if key is None else {"id": key}
        answer = _publish_in_background(client, auth, **fields)
        locker.terminate_blocked_publish()
        # The publish reconnects and runs again; let it through this time.
        wait_until(lambda: locker.admin.execute(_BLOCKED_INSERT).scalar())
        locker.release()
        answer["thread"].join(20)
    finally:
        locker.close()
    response = answer["response"]
    assert response.status_code == 202, response.json
    stored = _stored_events(client, auth)
    assert [event["id"] for event in stored] == [response.json["id"]]


def test_publish_answers_503_when_the_connection_is_lost_twice(pg_url, pg_client) -> None:
    client, auth = pg_client
    locker = _Locker(pg_url)
    try:
        answer = _publish_in_background(client, auth, id="order-2")
        locker.terminate_blocked_publish()
        locker.terminate_blocked_publish()  # the retry, on a fresh connection
        answer["thread"].join(20)
        locker.release()
    finally:
        locker.close()
    response = answer["response"]
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    assert _stored_events(client, auth) == []
    # The client retries with the same id, as Retry-After says, and the event is accepted once.
    again = client.post(
        "/v1/events", json={"type": "session", "data": SESSION, "id": "order-2"}, headers=auth
    )
    assert again.status_code == 202, again.json
    assert [event["id"] for event in _stored_events(client, auth)] == [again.json["id"]]


def test_any_request_whose_connection_breaks_answers_503(pg_url, pg_client) -> None:
    """Outside publish (no retry there), a broken connection is a 503, not a 500."""
    client, auth = pg_client
    engine = create_engine(pg_url)
    admin = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    with admin, engine.connect() as holder:
        tx = holder.begin()
        holder.execute(text("LOCK TABLE subscriptions IN ACCESS EXCLUSIVE MODE"))
        answer: dict[str, Any] = {}

        def run() -> None:
            answer["response"] = client.get("/v1/hooks", headers=auth)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        blocked = text(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query ILIKE '%FROM subscriptions%' AND pid <> pg_backend_pid()"
        )
        pid = wait_until(lambda: admin.execute(blocked).scalar(), timeout=20)
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        thread.join(20)
        tx.rollback()
    engine.dispose()
    response = answer["response"]
    assert response.status_code == 503, response.json
    assert response.json["code"] == "database_unavailable"
    assert "Retry-After" in response.headers
