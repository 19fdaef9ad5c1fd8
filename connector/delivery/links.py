"""Signed, expiring one-click links (itsdangerous) for notification e-mails.

A token names an action (retry a delivery, pause or resume a hook), the account and the
target id; `api.actions` serves `/actions/<token>` and `notify` puts the links in e-mails.
Tokens are stamped and checked with the service's clock, so tests move time instead of
waiting a week.
The signature is the only authority, so an empty HOOKKIT_SECRET_KEY disables links.
This module never logs a token or the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from ..clock import Clock

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
    payload: Any = _serializer(secret_key, clock).loads(token, max_age=max_age)
    name = payload.get("action") if isinstance(payload, dict) else None
    if name not in ACTIONS:
        raise BadSignature("not a hookkit action", payload=payload)
    account_id, target_id = payload.get("account_id"), payload.get(ACTIONS[name])
    if not isinstance(account_id, str) or not isinstance(target_id, str):
        raise BadSignature("not a hookkit action", payload=payload)
    return Action(name, account_id, target_id)
