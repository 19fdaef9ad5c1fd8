"""Signed portal links: what an end user may see of an account's webhooks, for how long.

`POST /v1/portal-links` (`api.portal_links`) issues a link and the web screens
(`web.access`) read it back; both use this module, so a link is checked one way only.
The token is an itsdangerous signature over `{account, hooks, expires, theme}`: the scope,
the expiry and the look travel inside the URL, so changing the hook list, the lifetime or
the theme breaks the signature, and no cookie is needed (third-party iframes often get
none). An empty HOOKKIT_SECRET_KEY disables links.

This module never logs a token or the key, and never trusts a token it did not verify.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer

from ..catalog.validation import check, validator_for
from ..clock import Clock
from ..config import parse_duration
from ..errors import NotFound, ValidationError
from .subscriptions import Subscriptions

PORTAL_SALT = "hookkit-portal"
MIN_LIFETIME = 60.0  # seconds
MAX_LIFETIME = 7 * 86400.0
DEFAULT_LIFETIME = "1h"
MAX_HOOKS = 50
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_LOGO_URL = re.compile(r"https://[^\s\"'<>\\]{1,2040}")

LINK_SCHEMA = validator_for(
    {
        "type": "object",
        "properties": {
            "expires_in": {"type": ["string", "number"], "maxLength": 20},
            "hook_ids": {
                "type": ["array", "null"],
                "items": {"type": "string", "minLength": 1, "maxLength": 100},
                "minItems": 1,
                "maxItems": MAX_HOOKS,
            },
            "theme": {
                "type": ["object", "null"],
                "properties": {
                    "accent_color": {"type": ["string", "null"], "maxLength": 7},
                    "logo_url": {"type": ["string", "null"], "maxLength": 2048},
                    "product_name": {"type": ["string", "null"], "maxLength": 100},
                },
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    }
)


@dataclass(frozen=True)
class Theme:
    """How the portal looks inside the product's page; every value checked when issued."""

    accent_color: str | None = None  # "#rrggbb"
    logo_url: str | None = None  # https only
    product_name: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass(frozen=True)
class PortalScope:
    """What one link opens: an account, all its hooks (`hook_ids` None) or only some, in
    its theme (the screens' `web.access.Viewer` enforces the scope)."""

    account_id: str
    hook_ids: tuple[str, ...] | None
    theme: Theme


def _serializer(secret_key: str) -> URLSafeSerializer:
    if not secret_key:
        raise BadSignature("portal links are disabled (HOOKKIT_SECRET_KEY is not set)")
    return URLSafeSerializer(secret_key, salt=PORTAL_SALT)


def _lifetime(raw: Any) -> float:
    try:
        seconds = float(raw) if isinstance(raw, int | float) else parse_duration(str(raw))
    except ValueError:
        raise ValidationError.at("$.expires_in", "expires_in must be a duration like 15m") from None
    if not MIN_LIFETIME <= seconds <= MAX_LIFETIME:
        raise ValidationError.at("$.expires_in", "expires_in must be between 1m and 7d")
    return seconds


def _theme(raw: dict[str, Any] | None) -> Theme:
    raw = raw or {}
    accent, logo, name = raw.get("accent_color"), raw.get("logo_url"), raw.get("product_name")
    if accent and not _COLOUR.fullmatch(accent):
        raise ValidationError.at("$.theme.accent_color", "accent_color must look like #1a7f64")
    if logo and not _LOGO_URL.fullmatch(logo):
        raise ValidationError.at("$.theme.logo_url", "logo_url must be an https:// URL")
    if name is not None and not name.strip():
        name = None
    return Theme(accent or None, logo or None, name.strip() if name else None)


def issue_link(
    subscriptions: Subscriptions,
    account_id: str,
    body: dict[str, Any],
    *,
    secret_key: str,
    clock: Clock,
) -> tuple[str, int]:
    """A signed token for the scope `body` asks for, and its expiry (unix seconds).

    `body`: `expires_in` (a duration, default 1h, 1m to 7d), `hook_ids` (only these hooks;
    each must be a live hook of the account) and `theme` (`accent_color`, `logo_url`,
    `product_name`). Raises NotFound when links are disabled (no HOOKKIT_SECRET_KEY).
    """
    if not secret_key:
        raise NotFound("portal links are not enabled on this server (no HOOKKIT_SECRET_KEY)")
    check(LINK_SCHEMA, body)
    lifetime = _lifetime(body.get("expires_in", DEFAULT_LIFETIME))
    hook_ids = body.get("hook_ids")
    if hook_ids is not None:
        hook_ids = list(dict.fromkeys(hook_ids))
        for index, hook_id in enumerate(hook_ids):
            try:
                subscriptions.get(account_id, hook_id)
            except NotFound:
                raise ValidationError.at(
                    f"$.hook_ids[{index}]", f"no subscription {hook_id!r}"
                ) from None
    theme = _theme(body.get("theme"))
    expires_at = int(clock() + lifetime)
    payload = {"a": account_id, "h": hook_ids, "e": expires_at, "t": theme.as_dict()}
    return str(_serializer(secret_key).dumps(payload)), expires_at


def read_link(secret_key: str, token: str, clock: Clock) -> PortalScope:
    """The scope a token stands for.

    Raises `itsdangerous.SignatureExpired` when its time is over, and
    `itsdangerous.BadSignature` when it was changed, cut short or signed with another key.
    """
    payload: Any = _serializer(secret_key).loads(token)
    if not isinstance(payload, dict):
        raise BadSignature("not a portal link")
    account_id, hooks, expires_at = payload.get("a"), payload.get("h"), payload.get("e")
    theme = payload.get("t") or {}
    if not isinstance(account_id, str) or not isinstance(expires_at, int):
        raise BadSignature("not a portal link")
    if hooks is not None and not (
        isinstance(hooks, list) and all(isinstance(h, str) for h in hooks)
    ):
        raise BadSignature("not a portal link")
    if not isinstance(theme, dict):
        raise BadSignature("not a portal link")
    if clock() >= expires_at:
        raise SignatureExpired("this portal link has expired", payload=payload)
    return PortalScope(
        account_id,
        tuple(hooks) if hooks is not None else None,
        Theme(theme.get("accent_color"), theme.get("logo_url"), theme.get("product_name")),
    )
