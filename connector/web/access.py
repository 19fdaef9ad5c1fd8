"""Who is looking: an operator signed in with an API key (dashboard), or an end user
holding a signed portal link; and what they may see (`Viewer`).

Dashboard: signing in with a key starts a new session (the old one is cleared, so a
session planted before sign-in is worthless) in Flask's signed cookie, HttpOnly,
SameSite=Lax, path /dashboard, Secure when HOOKKIT_PUBLIC_URL is https. It ends on
sign-out, after `SESSION_HOURS`, or when the key it started with is revoked.

Portal: the link's token (`hooks.portal`) is the authority and the scope; it carries no
cookie at all, so it works inside a third-party iframe. Its CSRF token is an HMAC of the
link under the secret key, sent in each form.

This module never stores an API key, in the session or anywhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from ..errors import NotFound, Unauthorized
from ..hooks.accounts import authenticate, key_active
from ..hooks.portal import Theme, read_link
from ..service import Hookkit
from .guard import check_csrf

SESSION_HOURS = 12


@dataclass(frozen=True)
class Viewer:
    """The account whose hooks are shown, and which of them (`hook_ids` None: all)."""

    account_id: str
    account_name: str | None
    hook_ids: tuple[str, ...] | None
    csrf_token: str
    portal: bool
    theme: Theme

    @property
    def scoped(self) -> bool:
        return self.hook_ids is not None

    def allows(self, hook_id: str) -> bool:
        return self.hook_ids is None or hook_id in self.hook_ids

    def require(self, hook_id: str) -> None:
        """404 for a hook outside the scope, exactly as for another account's."""
        if not self.allows(hook_id):
            raise NotFound(f"no subscription {hook_id!r}")


def viewer() -> Viewer:
    return g.viewer  # type: ignore[no-any-return]


def service() -> Hookkit:
    return Hookkit.of(current_app)


def portal_csrf(secret_key: str, token: str) -> str:
    return hmac.new(
        secret_key.encode(), b"portal-csrf|" + token.encode(), hashlib.sha256
    ).hexdigest()


def _portal_viewer(token: str) -> Viewer:
    hk = service()
    scope = read_link(hk.settings.secret_key, token, hk.clock)
    return Viewer(
        scope.account_id,
        None,
        scope.hook_ids,
        portal_csrf(hk.settings.secret_key, token),
        True,
        scope.theme,
    )


def _session_viewer() -> Viewer | None:
    """The signed-in operator, or None (no session, too old, or its key was revoked)."""
    hk = service()
    account_id, started = session.get("account_id"), session.get("started_at")
    if not isinstance(account_id, str) or not isinstance(started, int | float):
        return None
    if hk.clock() - started > SESSION_HOURS * 3600:
        return None
    key_id = session.get("key_id")
    if not isinstance(key_id, str) or not key_active(hk.store, account_id, key_id):
        return None
    return Viewer(account_id, session.get("account_name"), None, session["csrf"], False, Theme())


def resolve_viewer() -> Response | None:
    """`before_request` of the screens: find the viewer, check CSRF on every POST."""
    if request.blueprint == "portal":
        g.viewer = _portal_viewer(g.portal_token)
    else:
        found = _session_viewer()
        if found is None:
            session.clear()
            if request.method == "GET":
                return redirect(url_for("sign_in.sign_in", next=request.path))
            raise Unauthorized("sign in again")
        g.viewer = found
    if request.method == "POST":
        check_csrf(g.viewer.csrf_token)
    return None


def pop_token(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values is not None and "token" in values:
        g.portal_token = values.pop("token")


def _add_token(endpoint: str, values: dict[str, Any]) -> None:
    if "portal_token" in g and current_app.url_map.is_endpoint_expecting(endpoint, "token"):
        values.setdefault("token", g.portal_token)


# -- signing in and out ---------------------------------------------------------------------

sign_bp = Blueprint("sign_in", __name__, url_prefix="/dashboard")


def _form_token() -> str:
    """The CSRF token of the sign-in form (a session before sign-in holds only this)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]  # type: ignore[no-any-return]


def _safe_next(target: str | None) -> str:
    """Where to go after sign-in: a dashboard path only (no open redirect)."""
    if target and target.startswith("/dashboard/") and "//" not in target and "\\" not in target:
        return target
    return url_for("dashboard.hooks")


@sign_bp.get("/sign-in")
def sign_in() -> str | tuple[str, int]:
    enabled = bool(service().settings.secret_key)
    token = _form_token() if enabled else ""
    next_path = request.args.get("next", "")
    return render_template("sign_in.html", csrf=token, enabled=enabled, next_path=next_path)


@sign_bp.post("/sign-in")
def sign_in_post() -> Response | tuple[str, int]:
    hk = service()
    if not hk.settings.secret_key:
        raise NotFound("the dashboard is not enabled on this server (no HOOKKIT_SECRET_KEY)")
    check_csrf(session.get("csrf"))
    key = request.form.get("api_key", "").strip()
    try:
        account = authenticate(hk.store, key or None)
    except Unauthorized:
        page = render_template(
            "sign_in.html",
            csrf=_form_token(),
            enabled=True,
            next_path=request.form.get("next", ""),
            error="That API key is not valid.",
        )
        return page, 401
    session.clear()  # a new session: nothing from before sign-in survives
    session["account_id"] = account.id
    session["account_name"] = account.name
    session["key_id"] = account.key_id
    session["started_at"] = hk.clock()
    session["csrf"] = secrets.token_urlsafe(32)
    return redirect(_safe_next(request.form.get("next")))


@sign_bp.post("/sign-out")
def sign_out() -> Response:
    check_csrf(session.get("csrf"))
    session.clear()
    return redirect(url_for("sign_in.sign_in"))


@sign_bp.get("")
@sign_bp.get("/")
def root() -> Response:
    return redirect(url_for("dashboard.hooks"))


def install(ui: Flask) -> None:
    ui.register_blueprint(sign_bp)
    ui.url_defaults(_add_token)
