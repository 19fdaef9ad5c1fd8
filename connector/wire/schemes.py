"""Signature schemes: how one message is signed on the wire, per hook.

A product moving its webhooks to hookkit keeps the scheme its customers' receivers check:

- `standard-webhooks` (default): `webhook-id`, `webhook-timestamp`, `webhook-signature:
  v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per secret during a rotation;
- `timestamped-hex`: one header (default `X-Signature`) `t=<unix seconds>,v1=<hex HMAC-SHA256
  of "{t}.{body}">`, a second `v1=` for the old secret during a rotation (Stripe's scheme);
- `hex`: one header (default `X-Signature`) holding the hex HMAC-SHA256 of the body, with
  the current secret only (one value is all such receivers compare);
- `ed25519`: Standard Webhooks' asymmetric form, `webhook-signature: v1a,<base64 Ed25519
  signature>`; the hook's secret is a private key (`whsk_…`) that never leaves the server,
  receivers verify with its public key (`whpk_…`) alone;
- `none`: no signature.

`webhook-id` goes out with every scheme, so receivers can always deduplicate. For the two
hex schemes the key is the secret string exactly as shown to the user (its UTF-8 bytes).
`signature_headers` is the one place that signs a delivery (deliveries, retries and test
sends all come through `outgoing.build_request`). This module never logs a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
from dataclasses import dataclass

from ..config import SIGNATURE_SCHEMES
from .signing import sign

SCHEMES = SIGNATURE_SCHEMES
DEFAULT_SCHEME = "standard-webhooks"
DEFAULT_HEADER = "X-Signature"  # of the schemes that sign in one header of their own
ONE_HEADER = frozenset({"timestamped-hex", "hex"})
PRIVATE_PREFIX = "whsk_"
PUBLIC_PREFIX = "whpk_"


@dataclass(frozen=True)
class Signature:
    """How a hook's messages are signed: the scheme, and its header where it has one."""

    scheme: str = DEFAULT_SCHEME
    header: str | None = None

    @property
    def header_name(self) -> str | None:
        """The header the signature travels in, for the one-header schemes."""
        return (self.header or DEFAULT_HEADER) if self.scheme in ONE_HEADER else None

    @property
    def uses_key_pair(self) -> bool:
        return self.scheme == "ed25519"

    def as_dict(self) -> dict[str, str | None]:
        return {"scheme": self.scheme, "header": self.header_name}

    @classmethod
    def stored(cls, value: dict[str, str | None] | None) -> Signature:
        """From a hook's `signature` column; none stored means Standard Webhooks."""
        if not value:
            return cls()
        return cls(value.get("scheme") or DEFAULT_SCHEME, value.get("header"))


def signature_headers(
    signature: Signature, msg_id: str, timestamp: int, payload: bytes, keys: list[str]
) -> dict[str, str]:
    """The headers that sign `payload` (the exact bytes sent) with `keys`, newest first."""
    scheme = signature.scheme
    headers = {"webhook-id": msg_id}
    if scheme == "standard-webhooks":
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = sign(msg_id, timestamp, payload, keys)
    elif scheme == "ed25519":
        headers["webhook-timestamp"] = str(timestamp)
        signed = b"%s.%d.%s" % (msg_id.encode(), timestamp, payload)
        headers["webhook-signature"] = " ".join(
            "v1a," + base64.b64encode(_private_key(key).sign(signed)).decode() for key in keys
        )
    elif scheme == "timestamped-hex":
        signed = b"%d.%s" % (timestamp, payload)
        parts = [f"t={timestamp}", *(f"v1={_hex(key, signed)}" for key in keys)]
        headers[signature.header_name or DEFAULT_HEADER] = ",".join(parts)
    elif scheme == "hex":
        headers[signature.header_name or DEFAULT_HEADER] = _hex(keys[0], payload)
    elif scheme != "none":
        raise ValueError(f"unknown signature scheme {scheme!r}")
    return headers


def _hex(secret: str, signed: bytes) -> str:
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def generate_key_pair() -> str:
    """A fresh Ed25519 private key as `whsk_<base64 of its 32-byte seed>`."""
    return PRIVATE_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode()


def public_key(private: str) -> str:
    """The `whpk_…` public key of a `whsk_…` private key, what receivers verify with."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = _private_key(private).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.b64encode(raw).decode()


def _private_key(private: str):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not private.startswith(PRIVATE_PREFIX):
        raise ValueError("an ed25519 hook needs a whsk_ private key")
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(private[len(PRIVATE_PREFIX) :]))
