"""One-click links from notification e-mails: `/actions/<token>`, no API key.

The signed token (`links.action_token`) is the authority: it names the action, the account
and the delivery or hook, and expires after seven days; it works once, and not after the
account's keys were revoked (410 pages). GET only describes the action and
shows a button, because mail scanners and link previews fetch every link in a message; the
POST that the button sends does it. A person clicked a link in an e-mail, so every answer,
errors included, is a small HTML page: 400 for an expired link, 403 for a forged or damaged
one, 404 when links are not enabled (no HOOKKIT_SECRET_KEY) or the hook is gone.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template_string
from itsdangerous import BadSignature, SignatureExpired

from ..delivery.links import (
    LINK_MAX_AGE,
    Action,
    check_link,
    read_action_token,
    unuse_link,
    use_link,
)
from ..delivery.notify import hook_label
from ..errors import HookkitError, NotFound
from .context import service
from .operations import Answer, Operation, describe

_HTML = "text/html"

bp = Blueprint("actions", __name__, url_prefix="/actions")

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }} · hookkit</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }
button { font: inherit; padding: .5rem 1.2rem; cursor: pointer; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% for line in lines %}<p>{{ line }}</p>
{% endfor %}{% if button %}<form method="post"><button type="submit">{{ button }}</button></form>
{% endif %}</body>
</html>
"""

_BUTTONS = {"retry": "Retry delivery", "pause": "Pause hook", "resume": "Resume hook"}


def _page(
    title: str, lines: list[str], *, button: str | None = None, status: int = 200
) -> Response:
    html = render_template_string(_PAGE, title=title, lines=lines, button=button)
    response = Response(html, status=status, mimetype="text/html")
    # The URL is a credential: keep it out of caches and Referer headers; no framing, so
    # nobody can trick a click on the button.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    )
    return response


@bp.before_request
def _links_enabled() -> None:
    if not service().settings.secret_key:
        raise NotFound("one-click links are not enabled on this server (no HOOKKIT_SECRET_KEY)")


def _action(token: str) -> Action:
    hk = service()
    action = read_action_token(hk.settings.secret_key, token, hk.clock)
    check_link(hk.store, token, action)
    return action


@bp.get("/<token>")
@describe(
    Operation(
        "describeAction",
        "What a one-click link from a notification e-mail does, with a button",
        "actions",
        (Answer(200, "an HTML page; never acts", {"type": "string"}, media_type=_HTML),),
        description="The signed token is the authority: no API key. Errors are HTML pages "
        "too (400 expired, 403 forged, 404 links disabled or hook gone).",
        authenticated=False,
    )
)
def confirm(token: str) -> Response:
    """Describe what the link does, with a button; never acts (link scanners GET)."""
    action = _action(token)
    hk = service()
    if action.name == "retry":
        delivery = hk.deliveries.get(action.account_id, action.target_id)
        hook = hk.subscriptions.row(action.account_id, delivery["subscription_id"])
        name = hook_label(hook.description, hook.id)
        last = delivery["last_response_code"] or delivery["last_error"] or "none"
        lines = [
            f"Send the {delivery['event_type']} delivery {delivery['id']} to hook {name} "
            f"({hook.target_url}) again, with the same webhook-id so the receiver can tell "
            "it is the same message.",
            f"It is {delivery['status']} after {delivery['attempt_count']} attempts; "
            f"the last answer was {last}.",
        ]
        if hook.status != "active":  # only active hooks send; redeliver would refuse
            lines.append(f"The hook is {hook.status}: resume it before retrying.")
            return _page("Retry this delivery?", lines)
        return _page("Retry this delivery?", lines, button=_BUTTONS["retry"])
    hook = hk.subscriptions.row(action.account_id, action.target_id)
    name = hook_label(hook.description, hook.id)
    if action.name == "pause":
        lines = [f"Hook {name} ({hook.target_url}) stops receiving events until it is resumed."]
        title = "Pause this hook?"
    else:
        lines = [
            f"Hook {name} ({hook.target_url}) receives events again, and deliveries still "
            "queued for it go out."
        ]
        title = "Resume this hook?"
    lines.append(f"It is {hook.status} now.")
    return _page(title, lines, button=_BUTTONS[action.name])


@bp.post("/<token>")
@describe(
    Operation(
        "performAction",
        "Do what a one-click link says (retry a delivery, pause or resume a hook)",
        "actions",
        (Answer(200, "an HTML page confirming it", {"type": "string"}, media_type=_HTML),),
        authenticated=False,
    )
)
def perform(token: str) -> Response:
    """Do what the link says and confirm it; the link is used up, unless the action fails."""
    action = _action(token)
    hk = service()
    use_link(hk.store, token, hk.clock())
    try:
        return _perform(action)
    except HookkitError:
        unuse_link(hk.store, token)
        raise


def _perform(action: Action) -> Response:
    hk = service()
    if action.name == "retry":
        queued = hk.deliveries.redeliver(action.account_id, action.target_id)
        lines = [f"Delivery {queued['id']} goes out again in a moment, with the same webhook-id."]
        return _page("Delivery queued", lines)
    status = "paused" if action.name == "pause" else "active"
    hook = hk.subscriptions.update(action.account_id, action.target_id, {"status": status})
    name = hook_label(hook["description"], hook["id"])
    if action.name == "pause":
        return _page("Hook paused", [f"Hook {name} receives nothing until it is resumed."])
    return _page("Hook resumed", [f"Hook {name} receives events again."])


@bp.errorhandler(SignatureExpired)
def _expired(exc: SignatureExpired) -> Response:
    days = LINK_MAX_AGE // 86400
    lines = [
        f"Links in notification e-mails work for {days} days; this one is older.",
        "Use the API or the dashboard instead.",
    ]
    return _page("This link has expired", lines, status=400)


@bp.errorhandler(BadSignature)
def _forged(exc: BadSignature) -> Response:
    lines = [
        "This link was changed or cut short, or it was made for another server.",
        "Copy the whole link from the e-mail.",
    ]
    return _page("This link is not valid", lines, status=403)


@bp.errorhandler(HookkitError)
def _failed(exc: HookkitError) -> Response:
    return _page(exc.title, [exc.detail], status=exc.status)
