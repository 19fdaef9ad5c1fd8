"""The request's context: the running service, the caller's account, our public URL."""

from __future__ import annotations

from flask import current_app, g, request

from ..hooks.accounts import Account
from ..service import Hookkit


def service() -> Hookkit:
    """The service of the app handling this request."""
    return Hookkit.of(current_app)


def account() -> Account:
    """The account `auth.authenticate_request` found for this request."""
    return g.account  # type: ignore[no-any-return]


def public_url(path: str) -> str:
    """`path` as an absolute URL: under `HOOKKIT_PUBLIC_URL` when set (behind a proxy),
    else under the URL this request came to. Power Automate DELETEs `Location` as given."""
    base = service().settings.public_url or request.host_url
    return base.rstrip("/") + path


# Where `GET /v1/events/{id}` lives (the events blueprint's prefix): thin bodies link there.
EVENTS_PATH = "/v1/events"


def events_url() -> str:
    """Where thin bodies link to (`GET /v1/events/{id}`): under HOOKKIT_PUBLIC_URL when set,
    else under the address this request came to (the API's and the screens' requests alike)."""
    return public_url(request.script_root + EVENTS_PATH)
