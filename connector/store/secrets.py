"""Secrets at rest: the values that let anyone sign as a hook, sealed with a key of ours.

A hook's signing secrets (`secret`, `previous_secret`; for ed25519 the `whsk_` private key),
its basic-auth password and its sensitive header values are stored sealed:
`hk1:<key id>:<Fernet token>`. Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) is
authenticated, takes a fresh IV for every value and has one fixed format, so there is no
nonce or mode to get wrong; the key id (8 hex digits of the key's SHA-256) names the key a
value needs, so a missing key is named at start-up instead of failing a send.

Keys: HOOKKIT_ENCRYPTION_KEYS, comma-separated Fernet keys (`Fernet.generate_key()`); the
first seals, all open, so keys rotate by putting a new one first, sealing everything again
(`reseal`, `python -m connector db reseal`) and then dropping the old one. Without keys,
a SQLite database gets a key file next to it (`<database file>.key`, created 0600); a
PostgreSQL database refuses (`ConfigError`): its processes run on several machines and must
share one key, which only the operator can give.

This module never logs, shows or puts into an error message a key or a plaintext.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..errors import ConfigError
from .tables import subscriptions

__all__ = [
    "Sealer",
    "SecretsError",
    "check_stored_keys",
    "key_file",
    "open_hook",
    "reseal",
    "seal_hook",
    "sealer_for",
]

PREFIX = "hk1"
_SEALED = re.compile(r"^hk1:([0-9a-f]{8}):")
KEYS_VARIABLE = "HOOKKIT_ENCRYPTION_KEYS"

log = logging.getLogger("hookkit")


class SecretsError(ConfigError):
    """The keys cannot open what the database holds, or none are configured."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class Sealer:
    """Seals with the first key, opens with any; never shows its keys."""

    def __init__(self, keys: Iterable[bytes | str], *, source: str) -> None:
        self.source = source  # where the keys came from, for error messages
        self._fernets: dict[str, Fernet] = {}
        self._first = ""
        for index, key in enumerate(keys):
            raw = key.encode() if isinstance(key, str) else key
            try:
                fernet = Fernet(raw)
            except (ValueError, TypeError):
                raise SecretsError(
                    f"{source}: key {index + 1} is not a Fernet key (32 url-safe base64 bytes; "
                    'make one with `python -c "from cryptography.fernet import Fernet; '
                    'print(Fernet.generate_key().decode())"`)'
                ) from None
            kid = key_id(raw)
            self._fernets.setdefault(kid, fernet)
            self._first = self._first or kid
        if not self._fernets:
            raise SecretsError(f"{source}: no encryption key given")

    def __repr__(self) -> str:
        return f"Sealer(key ids {', '.join(self._fernets)}; from {self.source})"

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._fernets)

    @property
    def sealing_key_id(self) -> str:
        return self._first

    def seal(self, plaintext: str) -> str:
        token = self._fernets[self._first].encrypt(plaintext.encode())
        return f"{PREFIX}:{self._first}:{token.decode('ascii')}"

    def open(self, sealed: str) -> str:
        match = _SEALED.match(sealed)
        if match is None:
            raise SecretsError(
                "a stored secret is not sealed: the database missed migration 0003 "
                "(run `python -m connector db upgrade`)"
            )
        kid = match.group(1)
        fernet = self._fernets.get(kid)
        if fernet is None:
            raise SecretsError(self.missing([kid]))
        try:
            return fernet.decrypt(sealed[match.end() :].encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretsError(
                f"a stored secret sealed with key {kid} fails authentication: it was changed "
                "or damaged in the database"
            ) from None

    def missing(self, kids: Iterable[str]) -> str:
        """The start-up message for key ids the database uses that are not configured."""
        listed = ", ".join(sorted(kids))
        return (
            f"the database holds secrets sealed with key id(s) {listed}, which {self.source} "
            f"does not have (it has {', '.join(sorted(self._fernets))}); configure the key(s) "
            f"they were sealed with in {KEYS_VARIABLE} (new key first, old keys after it)"
        )


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and _SEALED.match(value) is not None


def sealed_key_id(value: Any) -> str | None:
    match = _SEALED.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def parse_keys(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def key_file(database_url: str) -> Path | None:
    """Where a SQLite database keeps its generated key: `<database file>.key`."""
    if not database_url.startswith("sqlite"):
        return None
    path = database_url.split("///", 1)[-1].split("?", 1)[0]
    return Path(os.path.abspath(path + ".key"))


def sealer_for(database_url: str, configured: str) -> Sealer:
    """The sealer for a database: HOOKKIT_ENCRYPTION_KEYS when set; else, for SQLite, the
    key file next to it (made on first use, 0600); else (PostgreSQL) `SecretsError`."""
    keys = parse_keys(configured)
    if keys:
        return Sealer(keys, source=KEYS_VARIABLE)
    path = key_file(database_url)
    if path is None:
        raise SecretsError(
            f"{KEYS_VARIABLE} is not set: hookkit stores hook secrets, basic-auth passwords "
            "and sensitive headers encrypted, and a PostgreSQL deployment must give every "
            'process the same key(s). Generate one with `python -c "from cryptography.'
            f'fernet import Fernet; print(Fernet.generate_key().decode())"` and set {KEYS_VARIABLE}'
        )
    return Sealer([_read_or_create(path)], source=f"the key file {path}")


def _read_or_create(path: Path) -> bytes:
    """The key in `path`, made first if missing (atomically: processes starting together
    on a new database agree on one key)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(Fernet.generate_key() + b"\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    key = path.read_bytes().strip()
    if not key:
        raise SecretsError(f"the key file {path} is empty")
    return key


# -- a hook's sealed values -----------------------------------------------------------------

Sensitive = Callable[[str], bool]  # whether a header name's value is sealed


def seal_hook(values: dict[str, Any], sealer: Sealer, sensitive: Sensitive) -> dict[str, Any]:
    """Column values (all or some of a hook's) with their secrets sealed; a value already
    sealed stays as it is."""
    return _each(values, lambda value: value if is_sealed(value) else sealer.seal(value), sensitive)


def open_hook(values: dict[str, Any], sealer: Sealer, sensitive: Sensitive) -> dict[str, Any]:
    """Column values with their sealed secrets opened. Secrets and passwords must be sealed;
    a header value is opened when it is sealed, whatever `sensitive` says of its name now
    (so a change of what counts as sensitive never makes a stored hook unreadable)."""
    out = _each({k: v for k, v in values.items() if k != "headers"}, sealer.open, sensitive)
    if "headers" in values:
        opened = _each({"headers": values["headers"]}, _open_if_sealed(sealer), lambda _: True)
        out["headers"] = opened["headers"]
    return out


def _open_if_sealed(sealer: Sealer) -> Callable[[str], str]:
    return lambda value: sealer.open(value) if is_sealed(value) else value


def _each(
    values: dict[str, Any], change: Callable[[str], str], sensitive: Sensitive
) -> dict[str, Any]:
    out = dict(values)
    for name in ("secret", "previous_secret"):
        if out.get(name) is not None:
            out[name] = change(out[name])
    auth = out.get("auth")
    if auth and auth.get("password") is not None:
        out["auth"] = {**auth, "password": change(auth["password"])}
    headers = out.get("headers")
    if headers:
        out["headers"] = {
            name: change(value) if sensitive(name) and isinstance(value, str) else value
            for name, value in headers.items()
        }
    return out


def key_ids_in(values: dict[str, Any]) -> set[str]:
    """The key ids a hook's stored values were sealed with."""
    found: set[str] = set()
    _each(values, lambda value: found.add(sealed_key_id(value) or "") or value, lambda _: True)
    found.discard("")
    return found


def check_stored_keys(conn: Connection, sealer: Sealer) -> None:
    """The start-up check: every key the stored hooks were sealed with is configured, so a
    missing or wrong key stops start-up instead of failing sends. Raises `SecretsError`."""
    used: set[str] = set()
    columns = ("secret", "previous_secret", "headers", "auth")
    for row in conn.execute(select(*(subscriptions.c[name] for name in columns))):
        used |= key_ids_in(row._asdict())
    missing = used - sealer.key_ids
    if missing:
        raise SecretsError(sealer.missing(missing))
    if sealer.source.startswith("the key file"):
        log.info("hook secrets are sealed with %s", sealer.source)


def reseal(conn: Connection, sealer: Sealer) -> int:
    """Seal again with the first key every stored value sealed with another one (after a key
    rotation, so the old key can be dropped); the number of hooks changed."""

    def again(value: str) -> str:
        kid = sealed_key_id(value)
        return value if kid in (None, sealer.sealing_key_id) else sealer.seal(sealer.open(value))

    columns = ("secret", "previous_secret", "headers", "auth")
    rows = conn.execute(select(subscriptions.c.id, *(subscriptions.c[n] for n in columns)))
    changed = 0
    for row in rows.all():
        values = {name: getattr(row, name) for name in columns}
        fresh = _each(values, again, lambda _: True)
        if fresh != values:
            conn.execute(subscriptions.update().where(subscriptions.c.id == row.id).values(fresh))
            changed += 1
    return changed
