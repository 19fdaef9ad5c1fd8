"""Authentication: every `/v1` blueprint's `before_request` finds the caller's account.

Keys come as `Authorization: Bearer KEY` or `X-API-Key: KEY`; an unknown and a revoked key
are answered alike. This module never logs a key.
"""

from __future__ import annotations

from flask import g, request

from ..errors import NotFound, ValidationError
from ..hooks.accounts import authenticate
from .context import service
from .inputs import unsendable


def authenticate_request() -> None:
    """`before_request` of every authenticated blueprint."""
    reject_nul_in_url()
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    key = token.strip() if scheme.lower() == "bearer" else None
    key = key or request.headers.get("X-API-Key", "").strip() or None
    g.account = authenticate(service().store, key)


def reject_nul_in_url() -> None:
    """Text that cannot be stored or sent (NUL, lone surrogates: see `inputs.unsendable`) is
    refused early: an id containing it cannot exist (404); a query parameter is invalid (422).
    """
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and unsendable(value) is not None:
            raise NotFound("no such resource")
    for name, value in request.args.items(multi=True):
        if (why := unsendable(name)) is not None:
            shown = "".join(ch for ch in name if unsendable(ch) is None)  # never echo it
            raise ValidationError.at(f"$.query.{shown}", f"parameter names {why}")
        if (why := unsendable(value)) is not None:
            raise ValidationError.at(f"$.query.{name}", why)
