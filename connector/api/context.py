"""The request's context: the running service and the caller's account."""

from __future__ import annotations

from flask import current_app, g

from ..hooks.accounts import Account
from ..service import Hookkit


def service() -> Hookkit:
    """The service of the app handling this request."""
    return Hookkit.of(current_app)


def account() -> Account:
    """The account `auth.authenticate_request` found for this request."""
    return g.account  # type: ignore[no-any-return]
