"""Security of every screen: headers (CSP without inline scripts, framing), CSRF tokens,
and error pages.

Scripts come only from `static/` (`script-src 'self'`, no inline code or handlers); the
one inline `<style>` (a portal's accent colour) carries a per-request nonce. The dashboard
may never be framed; the portal may be framed by HOOKKIT_PORTAL_FRAME_ANCESTORS only.
Every POST carries a CSRF token (form field `csrf_token` or header `X-CSRF-Token`) that
`access` derives for the viewer; a missing or wrong one is a 403.

This module never shows a token, a key or a traceback on a page.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Flask, Response, current_app, g, render_template, request
from itsdangerous import BadSignature, SignatureExpired
from werkzeug.exceptions import Forbidden, HTTPException

from ..api.problems import with_retry_after
from ..errors import HookkitError
from ..logs import masked_path
from ..service import Hookkit

log = logging.getLogger("hookkit.web")


class CSRFRefused(Forbidden):
    """A POST without the viewer's CSRF token (a form from elsewhere, or a stale page).

    A Werkzeug 403, not a `HookkitError`: it exists only on these HTML screens, never in
    the API's error tree."""

    description = "The page was open too long or came from elsewhere; reload it and try again."


def nonce() -> str:
    """This response's nonce for the one inline style block."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce  # type: ignore[no-any-return]


def frame_ancestors() -> str:
    """Who may frame this response: nobody for the dashboard, the configured embedders (or
    hookkit itself) for the portal."""
    if request.blueprint == "portal":
        allowed = Hookkit.of(current_app).settings.portal_frame_ancestors.strip()
        return allowed or "'self'"
    return "'none'"


def check_csrf(expected: str | None) -> None:
    """Refuse a POST whose token is not `expected` (compared in constant time)."""
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CSRFRefused()


def _headers(response: Response) -> Response:
    ancestors = frame_ancestors()
    style = f"style-src 'self' 'nonce-{nonce()}'"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; "
        f"{style}; img-src 'self' data: https:; connect-src 'self'; form-action 'self'; "
        f"base-uri 'none'; frame-ancestors {ancestors}"
    )
    if ancestors == "'none'":
        response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # portal URLs are credentials
    if response.mimetype == "text/html" or response.mimetype == "application/json":
        response.headers["Cache-Control"] = "no-store"
    return response


def _page(title: str, detail: str, status: int) -> tuple[str, int]:
    return render_template("error.html", title=title, detail=detail), status


def install(ui: Flask) -> None:
    ui.after_request(_headers)
    ui.jinja_env.globals["csp_nonce"] = nonce

    @ui.errorhandler(HookkitError)
    def _hookkit(exc: HookkitError) -> Response:
        page, status = _page(exc.title, exc.detail, exc.status)
        return with_retry_after(Response(page, status, mimetype="text/html"), exc)

    @ui.errorhandler(SignatureExpired)
    def _expired(exc: SignatureExpired) -> tuple[str, int]:
        return _page(
            "This link has expired",
            "Links to this page work for a limited time. Go back to the page that showed it "
            "and open it again for a fresh link.",
            400,
        )

    @ui.errorhandler(BadSignature)
    def _forged(exc: BadSignature) -> tuple[str, int]:
        return _page(
            "This link is not valid",
            "It was changed or cut short, or it was made for another server.",
            403,
        )

    @ui.errorhandler(CSRFRefused)
    def _csrf(exc: CSRFRefused) -> tuple[str, int]:
        return _page("This form has expired", exc.description or "", 403)

    @ui.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[str, int]:
        return _page(exc.name, exc.description or exc.name, exc.code or 500)

    @ui.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[str, int]:
        log.exception("unexpected error on %s %s", request.method, masked_path(request.path))
        return _page("Something went wrong", "The error was logged. Try again later.", 500)
