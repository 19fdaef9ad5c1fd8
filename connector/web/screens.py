"""The screens: hooks (list, create, detail with its actions, replays and delivery log),
event types (schema, sample, mapping playground), registered twice: at `/dashboard` for
operators and at `/portal/<token>` for end users. Each view calls the use case the `/v1`
view calls, with the same arguments (e.g. the thin payloads' events URL).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.datastructures import MultiDict

from ..api.context import events_url
from ..api.hooks import DELIVERY_STATUSES, STATUSES
from ..api.inputs import json_body
from ..api.problems import with_retry_after
from ..config import SIGNATURE_SCHEMES
from ..delivery.replays import MAX_WINDOW, SCOPES, Replays
from ..errors import Conflict, HookkitError, NotFound, ReplayRunning, ValidationError
from ..events.preview import preview as render_preview
from ..hooks.fields import ORDERINGS, PAYLOADS, PLATFORMS, SUCCESS_RULES
from .access import pop_token, resolve_viewer, service, viewer
from .chart import chart
from .forms import field_of, form_of, hook_body, replay_body

bp = Blueprint("screens", __name__)
bp.url_value_preprocessor(pop_token)
bp.before_request(resolve_viewer)

PAGE_SIZE = 20
REPLAYS_SHOWN = 5  # the hook's newest replays on its page
# Messages after an action, by the key the redirect carries (never text from the URL).
NOTICES = {
    "paused": "Paused: no events are sent until you resume.",
    "resumed": "Resumed: events are sent again.",
    "retried": "Queued: the delivery goes out again in a moment, with the same webhook-id.",
    "deleted": "The hook was deleted.",
    "saved": "Saved.",
    "replay_started": "Replay started: its deliveries are queued in batches and go out at the "
    "worker's pace. Its progress is under Replay.",
    "replay_cancelled": "Replay cancelled: nothing more is queued; what was queued still goes out.",
}


def _page_arg() -> int:
    try:
        return max(1, min(int(request.args.get("page", "1")), 10_000))
    except ValueError:
        return 1


def _choice(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    return value if value in choices else None


@bp.get("/")
def index() -> Response:
    return redirect(url_for(".hooks"))


@bp.get("/hooks")
def hooks() -> str:
    hk, who = service(), viewer()
    filters = {
        "event": request.args.get("event") or None,
        "status": _choice("status", STATUSES),
        "platform": _choice("platform", PLATFORMS),
        "target_url": request.args.get("target_url") or None,
    }
    page = _page_arg()
    items, total = hk.subscriptions.list(
        who.account_id, page=page, limit=PAGE_SIZE, ids=who.hook_ids, **filters
    )
    return render_template(
        "hooks.html",
        hooks=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        filters=filters,
        event_types=hk.catalog.names(),
        statuses=STATUSES,
        platforms=PLATFORMS,
        notice=NOTICES.get(request.args.get("notice", "")),
    )


def _form_page(
    form: Any = None, error: ValidationError | None = None, editing: dict[str, Any] | None = None
) -> tuple[str, int]:
    hk = service()
    if viewer().scoped and editing is None:
        raise NotFound("this link shows only some hooks; new ones cannot be added here")
    errors: dict[str, list[str]] = {}
    for failure in error.errors if error else ():
        errors.setdefault(field_of(failure.path), []).append(failure.message)
    if error is not None and not error.errors:
        errors.setdefault("", []).append(error.detail)
    return render_template(
        "hook_new.html",
        form=form or {},
        errors=errors,
        error=error,
        event_types=hk.catalog.names(),
        platforms=PLATFORMS,
        schemes=SIGNATURE_SCHEMES,
        success_rules=SUCCESS_RULES,
        payloads=PAYLOADS,
        orderings=ORDERINGS,
        editing=editing,
    ), 422 if error else 200


@bp.get("/hooks/new")
def new_hook() -> tuple[str, int]:
    return _form_page()


@bp.post("/hooks/new")
def create_hook() -> tuple[str, int]:
    hk, who = service(), viewer()
    if who.scoped:
        raise NotFound("this link shows only some hooks; new ones cannot be added here")
    try:
        created = hk.subscriptions.subscribe(
            who.account_id, hook_body(request.form), events_url=events_url()
        )
    except ValidationError as exc:
        return _form_page(request.form, exc)
    return _secret_page(created.subscription, "Hook created" if created.created else "Hook exists")


@bp.get("/hooks/<hook_id>/edit")
def edit_hook(hook_id: str) -> tuple[str, int]:
    hk, who = service(), viewer()
    who.require(hook_id)
    found = hk.subscriptions.get(who.account_id, hook_id)
    return _form_page(form_of(found), editing=found)


@bp.post("/hooks/<hook_id>/edit")
def save_hook(hook_id: str) -> Response | tuple[str, int]:
    """PATCH with every field of the form (`forms.hook_body(editing=True)`)."""
    hk, who = service(), viewer()
    who.require(hook_id)
    found = hk.subscriptions.get(who.account_id, hook_id)
    try:
        saved = hk.subscriptions.update(
            who.account_id,
            hook_id,
            hook_body(request.form, editing=True),
            events_url=events_url(),
        )
    except ValidationError as exc:
        return _form_page(request.form, exc, editing=found)
    if saved.get("secret"):
        return _secret_page(saved, "Hook saved, with a new secret")
    return redirect(url_for(".hook", hook_id=hook_id, notice="saved"), 303)


def _secret_page(hook: dict[str, Any], title: str) -> tuple[str, int]:
    """The hook's secret, shown once: it is on this answer only, never in a cookie or URL."""
    return render_template("secret.html", hook=hook, title=title), 200


@bp.get("/hooks/<hook_id>")
def hook(hook_id: str) -> str:
    return _detail(hook_id)


def _detail(
    hook_id: str,
    test: dict[str, Any] | None = None,
    problem: str | None = None,
    replay_form: MultiDict[str, str] | None = None,
    replay_error: HookkitError | None = None,
) -> str:
    hk, who = service(), viewer()
    who.require(hook_id)
    found = hk.subscriptions.get(who.account_id, hook_id)
    replay_errors: dict[str, list[str]] = {}
    if isinstance(replay_error, ValidationError):
        for failure in replay_error.errors:
            replay_errors.setdefault(field_of(failure.path), []).append(failure.message)
    status = _choice("status", DELIVERY_STATUSES)
    page = _page_arg()
    items, total = hk.deliveries.list_for_hook(
        who.account_id, hook_id, status=status, page=page, limit=PAGE_SIZE
    )
    return render_template(
        "hook.html",
        hook=found,
        deliveries=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        status=status,
        statuses=DELIVERY_STATUSES,
        chart=chart(hk.deliveries, who.account_id, hook_id, hk.clock()),
        test=test,
        problem=problem,
        replays=service().replays.list_for_hook(who.account_id, hook_id, limit=REPLAYS_SHOWN),
        replay_form=replay_form or _replay_defaults(hk.clock()),
        replay_error=replay_error,
        replay_message=_replay_message(replay_error),
        replay_errors=replay_errors,
        replay_scopes=tuple(SCOPES),
        replay_days=int(MAX_WINDOW // 86400),
        replay_max=hk.settings.replay_max_count,
        notice=NOTICES.get(request.args.get("notice", "")),
    )


@bp.post("/hooks/<hook_id>/test")
def send_test(hook_id: str) -> str:
    hk, who = service(), viewer()
    who.require(hook_id)
    return _detail(hook_id, test=hk.test_sends.send(who.account_id, hook_id))


def _set_status(hook_id: str, status: str, notice: str) -> Response:
    hk, who = service(), viewer()
    who.require(hook_id)
    hk.subscriptions.update(who.account_id, hook_id, {"status": status})
    return redirect(url_for(".hook", hook_id=hook_id, notice=notice), 303)


@bp.post("/hooks/<hook_id>/pause")
def pause(hook_id: str) -> Response:
    return _set_status(hook_id, "paused", "paused")


@bp.post("/hooks/<hook_id>/resume")
def resume(hook_id: str) -> Response:
    return _set_status(hook_id, "active", "resumed")


@bp.post("/hooks/<hook_id>/rotate-secret")
def rotate_secret(hook_id: str) -> tuple[str, int]:
    hk, who = service(), viewer()
    who.require(hook_id)
    rotated = hk.subscriptions.rotate_secret(who.account_id, hook_id, hk.settings.secret_grace)
    return _secret_page(rotated, "Secret rotated")


@bp.get("/hooks/<hook_id>/delete")
def confirm_delete(hook_id: str) -> str:
    hk, who = service(), viewer()
    who.require(hook_id)
    return render_template("delete.html", hook=hk.subscriptions.get(who.account_id, hook_id))


@bp.post("/hooks/<hook_id>/delete")
def delete(hook_id: str) -> Response:
    hk, who = service(), viewer()
    who.require(hook_id)
    hk.subscriptions.unsubscribe(who.account_id, hook_id)
    return redirect(url_for(".hooks", notice="deleted"), 303)


@bp.post("/deliveries/<delivery_id>/retry")
def retry(delivery_id: str) -> Response | str:
    hk, who = service(), viewer()
    delivery = hk.deliveries.get(who.account_id, delivery_id)
    hook_id = delivery["subscription_id"]
    if not who.allows(hook_id):  # as for another account's: the hidden hook stays unnamed
        raise NotFound(f"no delivery {delivery_id!r}")
    try:
        hk.deliveries.redeliver(who.account_id, delivery_id)
    except Conflict as exc:  # paused, deleted, a test send, in flight: said on the hook
        return _detail(hook_id, problem=exc.detail)
    return redirect(url_for(".hook", hook_id=hook_id, notice="retried"), 303)


def _replay_defaults(now: float) -> MultiDict[str, str]:
    """The replay form as first shown: the failed deliveries of the last hour."""
    since = datetime.fromtimestamp(now - 3600, UTC).strftime("%Y-%m-%dT%H:%M")
    return MultiDict({"since": since, "status": "failed"})


def _replay_message(error: HookkitError | None) -> str | None:
    """A refused replay in the screens' words (the API's own detail otherwise)."""
    if error is None:
        return None
    if isinstance(error, ReplayRunning):
        return (
            f"Another replay of this hook ({error.extra['replay_id']}) is still running: "
            "wait for it to finish, or cancel it below."
        )
    return error.detail


@bp.post("/hooks/<hook_id>/replay")
def replay(hook_id: str) -> Response | tuple[str, int]:
    """`POST /v1/hooks/{id}/replay` from the form; a refusal (409 running or not active,
    422 a bad window or too large) is shown on the hook page, the form as it was sent."""
    who = viewer()
    who.require(hook_id)
    try:
        service().replays.start(who.account_id, hook_id, replay_body(request.form))
    except (ValidationError, Conflict) as exc:
        page = _detail(hook_id, replay_form=request.form, replay_error=exc)
        return page, exc.status
    return redirect(
        url_for(".hook", hook_id=hook_id, notice="replay_started", _anchor="replay"), 303
    )


def _visible_replay(replays: Replays, replay_id: str) -> dict[str, Any]:
    """The replay, if the viewer may see its hook: another account's replay, or one of a
    hook outside the link's scope, is a 404 like an unknown one (naming no hook)."""
    who = viewer()
    found = replays.get(who.account_id, replay_id)
    if not who.allows(found["hook_id"]):
        raise NotFound(f"no replay {replay_id!r}")
    return found


@bp.get("/replays/<replay_id>")
def replay_progress(replay_id: str) -> Response:
    """`GET /v1/replays/{id}` as JSON, for the hook page to follow a running replay."""
    return jsonify(_visible_replay(service().replays, replay_id))


@bp.post("/replays/<replay_id>/cancel")
def cancel_replay(replay_id: str) -> Response:
    """`DELETE /v1/replays/{id}`; then back to the replay's hook."""
    replays = service().replays
    hook_id = _visible_replay(replays, replay_id)["hook_id"]
    replays.cancel(viewer().account_id, replay_id)
    return redirect(
        url_for(".hook", hook_id=hook_id, notice="replay_cancelled", _anchor="replay"), 303
    )


@bp.get("/event-types")
def event_types() -> str:
    catalog = service().catalog
    return render_template(
        "event_types.html", event_types=[catalog.get(n).summary() for n in catalog.names()]
    )


@bp.get("/event-types/<name>")
def event_type(name: str) -> str:
    catalog = service().catalog
    found = catalog.get(name)
    return render_template(
        "event_type.html",
        event_type=found.summary(),
        fields=schema_rows(found.schema),
        sample=json.dumps(found.sample, indent=2, ensure_ascii=False),
    )


@bp.post("/preview")
def preview() -> tuple[Response, int]:
    """The mapping playground and the create form's live check: `events.preview`'s answer
    as JSON, or its error with the parser's `position` and caret line."""
    hk = service()
    try:  # the API's reading of a body: NaN, text that cannot be sent, non-objects refused
        body = json_body()
        result = render_preview(hk.catalog, body, hk.clock(), hk.settings.envelope)
    except HookkitError as exc:
        answer = jsonify(
            {
                "error": exc.detail,
                "errors": [e.as_dict() for e in exc.errors],
                "position": exc.extra.get("position"),
                "expression": exc.extra.get("expression"),
            }
        )
        return with_retry_after(answer, exc), exc.status
    return jsonify({"result": result}), 200


def schema_rows(schema: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """A JSON Schema's properties as table rows (nested ones as `a.b`), in schema order."""
    rows = []
    required = set(schema.get("required", ()))
    for name, spec in (schema.get("properties") or {}).items():
        if not isinstance(spec, dict):
            continue
        kind = spec.get("type", "any")
        if "enum" in spec:
            kind = "one of " + ", ".join(json.dumps(v) for v in spec["enum"])
        rows.append(
            {
                "name": prefix + name,
                "type": " or ".join(kind) if isinstance(kind, list) else str(kind),
                "required": name in required,
                "description": spec.get("description", ""),
            }
        )
        if isinstance(spec.get("properties"), dict):
            rows.extend(schema_rows(spec, f"{prefix}{name}."))
        items = spec.get("items")
        if isinstance(items, dict) and isinstance(items.get("properties"), dict):
            rows.extend(schema_rows(items, f"{prefix}{name}[]."))
    return rows


def pretty(value: Any) -> str:
    """JSON for people, as plain text (the template escapes it like any other text)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def when(iso: str | None) -> str:
    """An API timestamp (`2026-12-01T08:57:55.516Z`) as people read it, in UTC."""
    return iso.replace("T", " ")[:19] + " UTC" if iso else ""


def install(ui: Flask) -> None:
    ui.jinja_env.filters["pretty"] = pretty
    ui.jinja_env.filters["when"] = when
    ui.register_blueprint(bp, url_prefix="/dashboard", name="dashboard")
    ui.register_blueprint(bp, url_prefix="/portal/<token>", name="portal")
