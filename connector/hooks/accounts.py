"""Accounts (tenants) and their API keys.

A bottom part of the `hooks` layer: API keys authenticate every request.
A key is shown once, when created, and stored only as its SHA-256: keys are 256 random bits,
so a fast hash is as safe as a slow one and lets every request look its key up by index.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from ..clock import Clock, system_clock
from ..errors import NotFound, Unauthorized, ValidationError
from ..store.database import Store
from ..store.ids import new_id
from ..store.tables import accounts, api_keys

KEY_PREFIX = "hk_"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    notification_email: str | None
    key_id: str | None = None  # the API key this request came with (`authenticate`)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _account(row: object) -> Account:
    return Account(row.id, row.name, row.notification_email)  # type: ignore[attr-defined]


def ensure_account(
    store: Store,
    name: str,
    *,
    notification_email: str | None = None,
    clock: Clock = system_clock,
) -> Account:
    """The account called `name`, created on first use (what `keys create` does)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError.at("$.account", "account name must be 1-200 characters")
    with store.write() as conn:
        row = conn.execute(select(accounts).where(accounts.c.name == name)).first()
        if row is None:
            account_id = new_id("acc")
            conn.execute(
                accounts.insert().values(
                    id=account_id,
                    name=name,
                    notification_email=notification_email,
                    created_at=clock(),
                )
            )
            return Account(account_id, name, notification_email)
        if notification_email is not None:
            conn.execute(
                accounts.update()
                .where(accounts.c.id == row.id)
                .values(notification_email=notification_email)
            )
            return Account(row.id, row.name, notification_email)
        return _account(row)


def account_by_name(store: Store, name: str) -> Account:
    with store.read() as conn:
        row = conn.execute(select(accounts).where(accounts.c.name == name)).first()
    if row is None:
        raise NotFound(f"no account named {name!r}")
    return _account(row)


def create_key(store: Store, account: Account, *, clock: Clock = system_clock) -> str:
    """A new API key for `account`; the only time the plain key exists."""
    return create_key_with_id(store, account, clock=clock)[1]


def create_key_with_id(
    store: Store, account: Account, *, clock: Clock = system_clock
) -> tuple[str, str]:
    """A new API key and its id (`key_…`, what `keys list` and `keys revoke` use)."""
    key_id = new_id("key")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with store.write() as conn:
        conn.execute(
            api_keys.insert().values(
                id=key_id,
                account_id=account.id,
                key_hash=_hash(key),
                prefix=key[:10],
                created_at=clock(),
            )
        )
    return key_id, key


def list_keys(store: Store, account: Account) -> list[dict[str, object]]:
    """The account's keys as `{id, prefix, created_at, revoked_at}`; never the key itself."""
    with store.read() as conn:
        rows = conn.execute(
            select(api_keys.c.id, api_keys.c.prefix, api_keys.c.created_at, api_keys.c.revoked_at)
            .where(api_keys.c.account_id == account.id)
            .order_by(api_keys.c.created_at)
        ).all()
    return [dict(row._mapping) for row in rows]


def key_active(store: Store, account_id: str, key_id: str) -> bool:
    """Whether the account's key `key_id` exists and is not revoked (one indexed read)."""
    with store.read() as conn:
        row = conn.execute(
            select(api_keys.c.revoked_at).where(
                api_keys.c.id == key_id, api_keys.c.account_id == account_id
            )
        ).first()
    return row is not None and row.revoked_at is None


def revoke_key(store: Store, key_or_id: str, *, clock: Clock = system_clock) -> bool:
    """Revoke a key given as its id (`key_…`) or the key itself; False if none matched."""
    match = api_keys.c.id == key_or_id
    if key_or_id.startswith(KEY_PREFIX):
        match = api_keys.c.key_hash == _hash(key_or_id)
    with store.write() as conn:
        result = conn.execute(
            api_keys.update()
            .where(match, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=clock())
        )
    return result.rowcount > 0


def authenticate(store: Store, key: str | None) -> Account:
    """The account owning `key`, or Unauthorized (the same for unknown and revoked keys)."""
    if not key:
        raise Unauthorized("send your API key as 'Authorization: Bearer KEY' or 'X-API-Key'")
    digest = _hash(key)
    with store.read() as conn:
        row = conn.execute(
            select(
                api_keys.c.id.label("key_id"), api_keys.c.key_hash, api_keys.c.revoked_at, accounts
            )
            .join(accounts, accounts.c.id == api_keys.c.account_id)
            .where(api_keys.c.key_hash == digest)
        ).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        raise Unauthorized("the API key is not valid")
    return Account(row.id, row.name, row.notification_email, row.key_id)


class KeyCache:
    """`authenticate` with verified keys remembered for `ttl` seconds of the clock.

    Looking a key up took about a fifth of a publish request's server time; a product
    sends many requests with one key, so each process keeps the keys it verified for a
    short while (HOOKKIT_API_KEY_CACHE, 5 s by default): a revoked key stops working
    within that time in every process. Only verified keys are kept (an unknown key is
    looked up every time), by their SHA-256, never the key itself.
    """

    _MAX_ENTRIES = 10_000  # then start afresh: a cache, not a second key table

    def __init__(self, store: Store, clock: Clock, ttl: float) -> None:
        self.store, self.clock, self.ttl = store, clock, ttl
        self._known: dict[str, tuple[Account, float]] = {}

    def authenticate(self, key: str | None) -> Account:
        """As `authenticate`, from memory while the key was verified less than `ttl` ago."""
        if not key or self.ttl <= 0:
            return authenticate(self.store, key)
        digest, now = _hash(key), self.clock()
        known = self._known.get(digest)
        if known is not None and now < known[1]:
            return known[0]
        account = authenticate(self.store, key)
        if len(self._known) >= self._MAX_ENTRIES:
            self._known = {}
        self._known[digest] = (account, now + self.ttl)
        return account


def set_notification_email(store: Store, account: Account, email: object) -> Account:
    """Where failure e-mails go; None stops them."""
    if email is None:
        address = None
    elif isinstance(email, str) and _EMAIL.fullmatch(email) and len(email) <= 320:
        address = email
    else:
        raise ValidationError.at("$.notification_email", "must be an e-mail address or null")
    with store.write() as conn:
        conn.execute(
            accounts.update().where(accounts.c.id == account.id).values(notification_email=address)
        )
    return Account(account.id, account.name, address)
