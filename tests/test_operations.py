"""Health and readiness: `/healthz` says the process is up; `/readyz` says it may take
traffic (database reachable, schema at head, embedded worker running) or answers 503
problem+json naming what is wrong."""

from __future__ import annotations

import shutil

from sqlalchemy import text

from connector.service import Hookkit


def test_a_healthy_service_is_ready(make_app):
    """With its database at head and its worker running, /readyz answers 200 with each check."""
    response = make_app().test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready"
    checks = response.json["checks"]
    assert checks["database"] == "reachable"
    assert checks["schema"].startswith("at head ")
    assert checks["worker"] == "running"


def test_a_stopped_worker_makes_the_service_unready_but_alive(make_app):
    """When the embedded worker is not running /readyz is 503 and says so; /healthz stays 200."""
    app = make_app()
    client = app.test_client()
    Hookkit.of(app).worker.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "unavailable"
    assert "the embedded delivery worker is not running" in response.json["detail"]
    assert response.headers["Retry-After"] == "5"
    assert client.get("/healthz").status_code == 200


def test_without_an_embedded_worker_the_worker_is_not_checked(make_app):
    """HOOKKIT_EMBEDDED_WORKER=false: separate workers deliver, the API is ready without one."""
    response = make_app(embedded_worker=False).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"]["worker"].startswith("not embedded")


def test_a_schema_behind_head_is_not_ready(make_app):
    """A database whose schema is not the revision this code needs answers 503 naming both."""
    app = make_app(embedded_worker=False)
    with Hookkit.of(app).store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "database schema is 0001, behind head" in response.json["detail"]


def test_an_unreachable_database_is_not_ready(make_app, tmp_path):
    """A database that cannot be opened answers 503 "database unreachable", never a 500."""
    path = tmp_path / "gone.db"
    app = make_app(database_url=f"sqlite:///{path}", embedded_worker=False)
    store = Hookkit.of(app).store
    store.dispose()
    for leftover in tmp_path.glob("gone.db*"):
        leftover.unlink()
    path.mkdir()  # a directory where the file was: SQLite cannot open it
    try:
        response = app.test_client().get("/readyz")
    finally:
        shutil.rmtree(path)
    assert response.status_code == 503
    assert "database unreachable (OperationalError)" in response.json["detail"]
