"""The webhooks screens: an operator dashboard (`/dashboard`) and the end-user portal
(`/portal/<signed link>`), server-rendered with Jinja and a little vanilla JavaScript.

They run as a small Flask app of their own, mounted in front of the API app by `mount`:
the screens answer HTML (never problem+json), keep their own session and security headers,
and stay out of the API's description. Both apps share one `Hookkit` service, and every
screen calls the same domain functions the `/v1` views call.

This package never holds domain logic, never reads the environment, and never serves a
script from anywhere but its own `static/` folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from ..service import EXTENSION
from . import access, guard, screens

# Paths the screens answer; everything else goes to the API app.
PREFIXES = ("/dashboard", "/portal/")


class _Dispatch:
    """WSGI: requests under `PREFIXES` go to the screens, all others to the API."""

    def __init__(self, api: Callable[..., Any], ui: Callable[..., Any]) -> None:
        self.api, self.ui = api, ui

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/dashboard" or path.startswith(PREFIXES):
            return self.ui(environ, start_response)  # type: ignore[no-any-return]
        return self.api(environ, start_response)  # type: ignore[no-any-return]


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, marked Secure whenever the request came over https
    (or HOOKKIT_PUBLIC_URL is https, for a TLS-terminating proxy in front)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def build(api_app: Flask) -> Flask:
    """The screens' app, on the service of `api_app`."""
    hk = api_app.extensions[EXTENSION]
    ui = Flask(__name__, static_url_path="/dashboard/static")
    ui.extensions[EXTENSION] = hk
    settings = hk.settings
    ui.config.update(
        SECRET_KEY=settings.secret_key or None,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_NAME="hookkit_dashboard",
        SESSION_COOKIE_PATH="/dashboard",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
    )
    ui.session_interface = _Sessions()
    guard.install(ui)
    access.install(ui)
    screens.install(ui)
    return ui


def mount(app: Flask) -> None:
    """Serve the screens from `app` (what `create_app` calls)."""
    ui = build(app)
    app.extensions["hookkit_web"] = ui
    app.wsgi_app = _Dispatch(app.wsgi_app, ui.wsgi_app)  # type: ignore[method-assign]
