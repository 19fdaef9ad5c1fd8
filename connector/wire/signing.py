"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.

Secrets look like `whsec_<base64 key>`, the form the `standardwebhooks` and `svix` libraries
read, so receivers verify with them unchanged. The signed content is exactly the bytes
sent: the body for POST, the query string (after `?`) for GET.

This module never logs or returns a secret anywhere but to its caller, and imports only the
standard library (and `connector.clock`): it is what a receiver needs to verify a delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable, Mapping

from ..clock import system_clock

PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300  # seconds; the spec's replay window


class SignatureError(Exception):
    """The signature does not verify (bad, missing, or too old)."""


def generate_secret() -> str:
    """A fresh 24-byte secret in the `whsec_` form."""
    return PREFIX + base64.b64encode(_secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    """`whsec_<base64>` is the key those bytes encode (Standard Webhooks); a secret of the
    user's own in any other form is its UTF-8 bytes."""
    if secret.startswith(PREFIX):
        return base64.b64decode(secret[len(PREFIX) :])
    return secret.encode()


def sign(msg_id: str, timestamp: int, payload: bytes, secrets: Iterable[str]) -> str:
    """The `webhook-signature` header value: one `v1,` signature per secret, space-separated.

    Several secrets sign during a rotation grace period, so receivers holding either the old
    or the new secret accept the message.
    """
    signed = b"%s.%d.%s" % (msg_id.encode(), timestamp, payload)
    parts = []
    for secret in secrets:
        digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
        parts.append("v1," + base64.b64encode(digest).decode())
    return " ".join(parts)


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Receiver-side check, for users of `connector.verify(...)`; raises SignatureError.

    Compares in constant time and rejects timestamps outside the tolerance (replay window).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        header = lowered["webhook-signature"]
    except (KeyError, ValueError):
        raise SignatureError("missing or malformed webhook-* headers") from None
    current = system_clock() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance window")
    body = payload.encode() if isinstance(payload, str) else payload
    expected = sign(msg_id, timestamp, body, [secret]).split(",", 1)[1]
    for candidate in header.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return
    raise SignatureError("no matching signature")
