"""Signed, expiring one-click links (itsdangerous) for notification e-mails.

A token names an action (retry a delivery, pause or resume a hook), the account and the
target id; `api.actions` serves `/actions/<token>` and `notify` puts the links in e-mails.
Tokens are stamped and checked with the service's clock, so tests move time instead of
waiting a week.
The signature is the authority, so an empty HOOKKIT_SECRET_KEY disables links; besides
it, a link works once (`use_link` remembers the token's SHA-256, never the token) and
stops working when every API key the account had when the link was made is revoked (a
leaked mailbox or log is then cut off with the keys).
This module never logs a token or the key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError

from ..clock import Clock
from ..errors import Gone, LinkUsed
from ..store.database import Store
from ..store.tables import api_keys, used_links

ACTION_SALT = "hookkit-action"
LINK_MAX_AGE = 7 * 24 * 3600  # seconds a one-click link stays valid
# Each action and the id its token carries.
ACTIONS = {"retry": "delivery_id", "pause": "hook_id", "resume": "hook_id"}


@dataclass(frozen=True)
class Action:
    """What a one-click link does, read back from its token."""

    name: str  # retry | pause | resume
    account_id: str
    target_id: str  # the delivery (retry) or the hook (pause, resume)
    issued_at: float = 0.0  # when the link was signed (read back from the token)


class _ClockedSigner(TimestampSigner):
    """itsdangerous' timestamp signer, reading the service's clock instead of the machine's."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


def _serializer(secret_key: str, clock: Clock) -> URLSafeTimedSerializer:
    if not secret_key:
        # An empty key would let anyone sign links; refuse rather than "sign".
        raise BadSignature("one-click links are disabled (HOOKKIT_SECRET_KEY is not set)")
    return URLSafeTimedSerializer(
        secret_key, salt=ACTION_SALT, signer=_ClockedSigner, signer_kwargs={"clock": clock}
    )


def action_token(secret_key: str, action: Action, clock: Clock) -> str:
    """A signed token standing for `action`, stamped with the clock's time."""
    return _serializer(secret_key, clock).dumps(
        {
            "action": action.name,
            "account_id": action.account_id,
            ACTIONS[action.name]: action.target_id,
        }
    )


def read_action_token(
    secret_key: str, token: str, clock: Clock, *, max_age: float = LINK_MAX_AGE
) -> Action:
    """The action a token stands for.

    Raises `itsdangerous.SignatureExpired` when it is older than `max_age`, and
    `itsdangerous.BadSignature` when it was not signed with `secret_key` or is not an action.
    """
    payload, issued = _serializer(secret_key, clock).loads(
        token, max_age=max_age, return_timestamp=True
    )
    name = payload.get("action") if isinstance(payload, dict) else None
    if name not in ACTIONS:
        raise BadSignature("not a hookkit action", payload=payload)
    account_id, target_id = payload.get("account_id"), payload.get(ACTIONS[name])
    if not isinstance(account_id, str) or not isinstance(target_id, str):
        raise BadSignature("not a hookkit action", payload=payload)
    return Action(name, account_id, target_id, issued.timestamp())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_link(store: Store, token: str, action: Action) -> None:
    """Raise `LinkUsed` (410) when the link was used, `Gone` (410) when every API key the
    account had when the link was signed is revoked since."""
    with store.read() as conn:
        used = conn.execute(
            select(used_links.c.digest).where(used_links.c.digest == _digest(token))
        ).first()
        # Signing stamps whole seconds: a key made within the link's second counts as older.
        keyed = conn.execute(
            select(
                exists().where(
                    api_keys.c.account_id == action.account_id,
                    api_keys.c.revoked_at.is_(None),
                    api_keys.c.created_at < action.issued_at + 1,
                )
            )
        ).scalar()
    if used is not None:
        raise LinkUsed("this link was used already; each link in an e-mail works once")
    if not keyed:
        raise Gone(
            "the account's API keys were revoked after this link was sent, so it no longer works"
        )


def use_link(store: Store, token: str, now: float) -> None:
    """Mark the link used, or raise `LinkUsed` if another click was first (two clicks race:
    the primary key lets exactly one through). Forgets links older than their lifetime."""
    try:
        with store.write() as conn:
            conn.execute(used_links.insert().values(digest=_digest(token), used_at=now))
            conn.execute(delete(used_links).where(used_links.c.used_at < now - LINK_MAX_AGE))
    except IntegrityError:
        raise LinkUsed("this link was used already; each link in an e-mail works once") from None


def unuse_link(store: Store, token: str) -> None:
    """Give a link back when its action could not be done (e.g. the hook was paused), so
    the person can try again once the cause is gone."""
    with store.write() as conn:
        conn.execute(delete(used_links).where(used_links.c.digest == _digest(token)))
