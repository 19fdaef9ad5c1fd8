"""What operators' tools call: `GET /readyz` (may this process take traffic?) and
`GET /metrics` (Prometheus). `/healthz` (is the process up?) lives in `meta`.

`/metrics` is off (404) unless HOOKKIT_METRICS_TOKEN is set, and then wants it as a bearer
token, compared in constant time; it never shows the token, a key or an id.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, jsonify, request

from .. import metrics
from ..delivery import heartbeat
from ..delivery.backlog import backlog
from ..delivery.outbox import next_due
from ..errors import NotFound, Unauthorized, Unavailable
from ..service import Hookkit
from ..store import migrate
from .context import service
from .operations import Answer, Operation, describe

bp = Blueprint("operating", __name__)

_READY = {
    "type": "object",
    "properties": {
        "status": {"const": "ready"},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["status", "checks"],
}


@bp.get("/readyz")
@describe(
    Operation(
        "getReadiness",
        "Readiness: database reachable, schema at head, delivery worker alive",
        "meta",
        (Answer(200, "this process can take traffic", _READY),),
        description=(
            "503 (problem+json, `detail` says why) while the database is unreachable, its "
            "schema is not the revision this code needs, or no delivery worker is alive: "
            "the embedded one (HOOKKIT_EMBEDDED_WORKER=true), else a separate worker's "
            "heartbeat within HOOKKIT_WORKER_TIMEOUT, as HOOKKIT_EXPECT_WORKERS says "
            "(when-due: once deliveries are overdue by that timeout; always; never). "
            "`/healthz` only says the process is up."
        ),
        errors=(Unavailable,),
        authenticated=False,
    )
)
def ready() -> Response:
    """200 when every check passes, else 503 naming each failing one."""
    hookkit = service()
    checks: dict[str, str] = {}
    failing: list[str] = []
    try:
        status = migrate.current(hookkit.store)
        checks["database"] = "reachable"
    except Exception as exc:  # any failure to reach it is "not ready", never a 500
        failing.append(f"database unreachable ({type(exc).__name__})")
    else:
        if status.at_head:
            checks["schema"] = f"at head {status.head}"
        else:
            failing.append(f"database schema is {status}, this code needs {status.head}")
    if hookkit.settings.embedded_worker:
        worker = hookkit.worker
        if worker is None or not worker.alive():
            failing.append("the embedded delivery worker is not running")
        else:
            checks["worker"] = "running"
    elif not failing:
        _check_workers(hookkit, checks, failing)
    if failing:
        raise Unavailable("not ready: " + "; ".join(failing), retry_after=5)
    return jsonify({"status": "ready", "checks": checks})


def _check_workers(hookkit: Hookkit, checks: dict[str, str], failing: list[str]) -> None:
    """Separate workers: a heartbeat within HOOKKIT_WORKER_TIMEOUT, when one is expected."""
    settings = hookkit.settings
    if settings.expect_workers == "never":
        checks["worker"] = "not embedded (separate worker processes, not checked)"
        return
    now = hookkit.clock()
    try:
        alive = heartbeat.alive(hookkit.store, now, settings.worker_timeout)
        due = None if alive else next_due(hookkit.store)
    except Exception as exc:
        failing.append(f"database unreachable ({type(exc).__name__})")
        return
    if alive:
        checks["worker"] = f"not embedded: {alive} separate worker(s) alive"
    elif settings.expect_workers == "always":
        failing.append(
            "no delivery worker is alive (no heartbeat within "
            f"{settings.worker_timeout:g}s; HOOKKIT_EXPECT_WORKERS=always)"
        )
    elif due is not None and due <= now - settings.worker_timeout:
        # Due for longer than a worker may be silent: not a worker restarting, a stall.
        failing.append(
            f"deliveries have waited {now - due:.0f}s past their due time and no delivery "
            f"worker is alive (no heartbeat within {settings.worker_timeout:g}s)"
        )
    else:
        checks["worker"] = "not embedded: no separate worker alive, nothing overdue"


@bp.get("/metrics")
@describe(
    Operation(
        "getMetrics",
        "Prometheus metrics (with HOOKKIT_METRICS_TOKEN as a bearer token)",
        "meta",
        (
            Answer(
                200,
                "the metrics in the Prometheus text format (docs/operations.md)",
                {"type": "string"},
                media_type="text/plain",
            ),
        ),
        description=(
            "Off (404) unless HOOKKIT_METRICS_TOKEN is set; then send "
            "`Authorization: Bearer <that token>` (not an API key)."
        ),
        errors=(Unauthorized, NotFound),
        authenticated=False,
        security="metricsToken",
    )
)
def scrape() -> Response:
    """Every metric; the queue's gauges are read from the database now."""
    hookkit = service()
    token = hookkit.settings.metrics_token
    if not token:
        raise NotFound("metrics are off: set HOOKKIT_METRICS_TOKEN to serve them")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise Unauthorized("send the metrics token as `Authorization: Bearer <token>`")
    now = hookkit.clock()
    readings = backlog(hookkit.store, now).readings()
    readings.append(
        heartbeat.reading(heartbeat.alive(hookkit.store, now, hookkit.settings.worker_timeout))
    )
    body, content_type = metrics.render(readings)
    return Response(body, content_type=content_type)
