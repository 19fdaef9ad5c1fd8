"""Authentication: every `/v1` blueprint's `before_request` finds the caller's account.

Keys come as `Authorization: Bearer KEY` or `X-API-Key: KEY`; an unknown and a revoked key
are answered alike. Each key then spends one request of its rate limit
(`hooks.api_limits`, HOOKKIT_API_RATE_LIMIT): over it, `429` with Retry-After; every
authenticated answer says where the key stands in `RateLimit-*` headers. This module never
logs a key.
"""

from __future__ import annotations

import math

from flask import Response, g, request

from ..errors import NotFound, RateLimited, ValidationError
from .context import service
from .inputs import unsendable


def authenticate_request() -> None:
    """`before_request` of every authenticated blueprint."""
    reject_nul_in_url()
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    key = token.strip() if scheme.lower() == "bearer" else None
    key = key or request.headers.get("X-API-Key", "").strip() or None
    hk = service()
    g.account = hk.keys.authenticate(key)
    if hk.api_limits.enabled and g.account.key_id is not None:
        g.rate_quota = quota = hk.api_limits.take(g.account.key_id)
        if not quota.allowed:
            raise RateLimited(
                f"this API key may send {quota.limit} requests per {quota.window:g} s; "
                "retry after the time in Retry-After",
                retry_after=quota.retry_after,
            )


def rate_limit_headers(response: Response) -> Response:
    """`after_request`: where the caller's key stands (the RateLimit header fields of the
    IETF httpapi draft, in the widely deployed Limit/Remaining/Reset form)."""
    quota = g.get("rate_quota")
    if quota is not None:
        response.headers["RateLimit-Limit"] = str(quota.limit)
        response.headers["RateLimit-Remaining"] = str(quota.remaining)
        response.headers["RateLimit-Reset"] = str(math.ceil(quota.reset))
        response.headers["RateLimit-Policy"] = f"{quota.limit};w={quota.window:g}"
    return response


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
