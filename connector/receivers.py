"""For receivers written in Flask: `@verified(secret)` checks each delivery's signature
before the view runs, and answers `401` when it does not verify.

What is signed is exactly what was sent: the raw body for POST (JSON or form), the raw query
string for GET, so the decorator reads those and never a re-serialised `request.json`.
The verification itself is `connector.verify` (standard library only); this module is the
only one of the receiver side that needs Flask, and it never logs a secret or a body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, g, request

from .wire.signing import DEFAULT_TOLERANCE, SignatureError, verify

F = TypeVar("F", bound=Callable[..., Any])


def verified(
    secret: str | Callable[[], str], *, tolerance: int = DEFAULT_TOLERANCE
) -> Callable[[F], F]:
    """Decorate a Flask view that receives hookkit deliveries.

    `secret` is the hook's `whsec_…` secret, or a function answering it (read at each
    request, e.g. from your configuration). The verified `webhook-id` is in `g.webhook_id`
    for deduplication.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            key = secret() if callable(secret) else secret
            payload = request.query_string if request.method == "GET" else request.get_data()
            try:
                verify(payload, dict(request.headers), key, tolerance=tolerance)
            except SignatureError as exc:
                return Response(f"signature: {exc}\n", status=401, mimetype="text/plain")
            g.webhook_id = request.headers.get("webhook-id")
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate
