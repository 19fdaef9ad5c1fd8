"""Authentication: every `/v1` blueprint's `before_request` finds the caller's account.

Keys come as `Authorization: Bearer KEY` or `X-API-Key: KEY`; an unknown and a revoked key
are answered alike. This module never logs a key.
"""

from __future__ import annotations

from flask import g, request

from ..errors import NotFound, ValidationError
from ..hooks.accounts import authenticate
from .context import service


def authenticate_request() -> None:
    """`before_request` of every authenticated blueprint."""
    reject_nul_in_url()
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    key = token.strip() if scheme.lower() == "bearer" else None
    key = key or request.headers.get("X-API-Key", "").strip() or None
    g.account = authenticate(service().store, key)


def reject_nul_in_url() -> None:
    """NUL characters cannot be stored (PostgreSQL text refuses them), so refuse them early.

    An id containing one cannot exist (404); a query parameter with one is invalid (422).
    """
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and "\0" in value:
            raise NotFound("no such resource")
    for name, value in request.args.items(multi=True):
        if "\0" in name or "\0" in value:
            raise ValidationError.at(f"$.query.{name.strip(chr(0))}", "may not contain NUL")
