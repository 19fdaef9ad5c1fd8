"""REST-hook subscriptions: subscribe, look up, list, update, pause, rotate, unsubscribe.

Platforms call these on behalf of end users and each speaks a dialect: the target URL comes
as `target_url` (resthooks), `hookUrl`/`targetUrl`/`webhookUrl` (Zapier apps), `target` or
`url` (Make, n8n). Subscribing twice returns the same hook (Pipedream and n8n re-run their
activate step) and unsubscribing twice succeeds (Zapier cannot tell off from deleted).

An account has at most one live hook per event set and URL: the database holds it to that
(a unique index), so concurrent identical subscribes make one hook, and a PATCH that would
make a second one is a conflict. Field checking lives in `fields`, row helpers in `stored`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from ..catalog import Catalog
from ..catalog.validation import check
from ..clock import Clock
from ..errors import Conflict, DuplicateSubscription
from ..store.database import Store
from ..store.ids import new_id
from ..store.signal import QueueSignal
from ..store.tables import subscription_events, subscriptions
from ..wire.schemes import Signature, generate_key_pair
from ..wire.signing import generate_secret
from .fields import DEFAULTS, HOOK_SCHEMA, ZAPIER_RATE_LIMIT, FieldChecker, checked_fields
from .stored import apply, index_events, live_twin, opened, owned, remove, sealed, serialize


@dataclass(frozen=True)
class Created:
    subscription: dict[str, Any]
    created: bool  # False: an identical subscription already existed


# How often `update` checks a body again when the hook keeps changing under it.
_UPDATE_ATTEMPTS = 3


class Subscriptions:
    """Subscription use cases for one store, catalog and target policy."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        clock: Clock,
        signal: QueueSignal,
        *,
        allow_private: bool,
        grace: float = 0.0,
        signature: Signature | None = None,
        default_body: str | None = None,
    ) -> None:
        """`grace`: how long a replaced secret keeps signing; `signature`: what new hooks
        get unless they ask for another; `default_body`: the deployment's (HOOKKIT_ENVELOPE)."""
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.signal = signal
        self.grace = grace
        self.default_body = default_body or None
        self.checker = FieldChecker(
            catalog, clock, allow_private=allow_private, signature=signature
        )

    # -- commands ---------------------------------------------------------------------------

    def subscribe(
        self, account_id: str, body: dict[str, Any], *, events_url: str | None = None
    ) -> Created:
        """Create a hook, or return the identical one this account already has;
        `events_url` (`…/v1/events` of this service) is what thin bodies link into."""
        check(HOOK_SCHEMA, body)
        fields = self.checker.fields(_fresh(body), creating=True, events_url=events_url)
        try:
            return self._create(account_id, fields)
        except IntegrityError:
            # An identical subscribe committed between our look and our insert (PostgreSQL
            # lets both look at once); the unique index stopped ours. Answer with its hook.
            with self.store.read() as conn:
                existing = live_twin(conn, account_id, fields["event_key"], fields["target_url"])
            if existing is None:
                raise
            return Created(_with_secret(self._opened(existing)), created=False)

    def _create(self, account_id: str, fields: dict[str, Any]) -> Created:
        now = self.clock()
        with self.store.write() as conn:
            existing = live_twin(conn, account_id, fields["event_key"], fields["target_url"])
            if existing is not None:
                return Created(_with_secret(self._opened(existing)), created=False)
            hook_id = new_id("hook")
            key_pair = Signature.stored(fields.get("signature")).uses_key_pair
            secret = generate_key_pair() if key_pair else fields.get("secret") or generate_secret()
            row = {
                "id": hook_id,
                "account_id": account_id,
                **fields,
                "secret": secret,
                "created_at": now,
                "updated_at": now,
                "delivery_count": 0,
                "failure_count": 0,
                "failure_streak": 0,
            }
            conn.execute(subscriptions.insert().values(sealed(row, self.store.sealer)))
            index_events(conn, hook_id, account_id, row["events"])
            created = conn.execute(select(subscriptions).where(subscriptions.c.id == hook_id)).one()
        return Created(_with_secret(self._opened(created)), created=True)

    def update(
        self,
        account_id: str,
        hook_id: str,
        body: dict[str, Any],
        *,
        events_url: str | None = None,
    ) -> dict[str, Any]:
        """Change the fields `body` gives; 409 if the hook would duplicate another live one."""
        check(HOOK_SCHEMA, body)
        return self._change(account_id, hook_id, body, creating=False, events_url=events_url)

    def replace(
        self,
        account_id: str,
        hook_id: str,
        body: dict[str, Any],
        *,
        events_url: str | None = None,
    ) -> dict[str, Any]:
        """PUT: `body` becomes the hook's settings, checked as on subscribe (events and a
        target URL required), and every setting it leaves out returns to its default; the
        secret stays. Otherwise like `update`: 409 if it would duplicate another live hook."""
        check(HOOK_SCHEMA, body)
        return self._change(account_id, hook_id, _fresh(body), creating=True, events_url=events_url)

    def _change(
        self,
        account_id: str,
        hook_id: str,
        body: dict[str, Any],
        *,
        creating: bool,
        events_url: str | None = None,
    ) -> dict[str, Any]:
        """Write the checked fields of `body` (with `creating`, all of them are required).

        The fields are checked before the write transaction opens: trying a mapping on every
        subscribed event's sample takes a while, and SQLite has a single writer. Should the
        hook change meanwhile in a way those checks read, they run again.
        """
        for _ in range(_UPDATE_ATTEMPTS):
            current = self.row(account_id, hook_id)
            fields = self.checker.fields(
                body, creating=creating, current=current, events_url=events_url
            )
            try:
                with self.store.write() as conn:
                    latest = self._opened(owned(conn, account_id, hook_id))
                    if checked_fields(latest) != checked_fields(current):
                        continue
                    now = self.clock()
                    changes = self._secret_change(latest, fields, now)
                    written = apply(conn, latest, sealed(changes, self.store.sealer), now)
                    updated = serialize(self._opened(written))
                    if changes.get("secret", latest.secret) != latest.secret:
                        updated = _with_secret_of(updated, changes)  # shown once, like on create
                    break
            except IntegrityError:
                # A concurrent subscribe or update took this event and URL first.
                with self.store.read() as conn:
                    twin = live_twin(
                        conn,
                        account_id,
                        fields.get("event_key", current.event_key),
                        fields.get("target_url", current.target_url),
                        other_than=hook_id,
                    )
                if twin is None:
                    raise
                raise DuplicateSubscription(twin.id) from None
        else:
            raise Conflict(
                "the subscription kept changing while this update was checked; try again"
            )
        if "status" in fields:
            self.signal.send()  # a resumed hook may have deliveries waiting
        return updated

    def _secret_change(self, current: Any, fields: dict[str, Any], now: float) -> dict[str, Any]:
        """`fields` plus what changes of the signing secret: a new kind of key when the
        scheme moves between a shared secret and a key pair; the user's own secret replacing
        the current one, which keeps signing beside it for the grace period."""
        before = Signature.stored(current.signature).uses_key_pair
        after = Signature.stored(fields.get("signature", current.signature)).uses_key_pair
        if before != after:
            secret = generate_key_pair() if after else fields.get("secret") or generate_secret()
            return {
                **fields,
                "secret": secret,
                "previous_secret": None,
                "previous_secret_expires_at": None,
            }
        if fields.get("secret", current.secret) != current.secret:
            return {
                **fields,
                "previous_secret": current.secret,
                "previous_secret_expires_at": now + self.grace,
            }
        return fields

    def unsubscribe(self, account_id: str, hook_id: str) -> None:
        """Delete a hook; deleting it again is fine, another account's id is NotFound."""
        with self.store.write() as conn:
            row = owned(conn, account_id, hook_id, include_deleted=True)
            if row.deleted_at is None:
                remove(conn, hook_id, self.clock())

    def rotate_secret(self, account_id: str, hook_id: str, grace: float) -> dict[str, Any]:
        """A new secret; the old one keeps signing beside it until the grace period ends."""
        now = self.clock()
        with self.store.write() as conn:
            current = owned(conn, account_id, hook_id)
            key_pair = Signature.stored(current.signature).uses_key_pair
            secret = generate_key_pair() if key_pair else generate_secret()
            conn.execute(
                subscriptions.update()
                .where(subscriptions.c.id == hook_id)
                .values(
                    # the current secret, already sealed, becomes the previous one as it is
                    **sealed({"secret": secret}, self.store.sealer),
                    previous_secret=current.secret,
                    previous_secret_expires_at=now + grace,
                    updated_at=now,
                )
            )
            row = conn.execute(select(subscriptions).where(subscriptions.c.id == hook_id)).one()
        return _with_secret(self._opened(row))

    # -- queries ----------------------------------------------------------------------------

    def get(self, account_id: str, hook_id: str) -> dict[str, Any]:
        return serialize(self.row(account_id, hook_id))

    def row(self, account_id: str, hook_id: str) -> Any:
        """The hook, its sealed values opened (`stored.opened`)."""
        with self.store.read() as conn:
            return self._opened(owned(conn, account_id, hook_id))

    def _opened(self, row: Row[Any]) -> Any:
        return opened(row, self.store.sealer)

    def list(
        self,
        account_id: str,
        *,
        page: int,
        limit: int,
        event: str | None = None,
        status: str | None = None,
        target_url: str | None = None,
        platform: str | None = None,
        ids: Collection[str] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the account's live hooks, filtered; `ids` limits them to those hooks
        (a portal link scoped to some hooks)."""
        conditions = [
            subscriptions.c.account_id == account_id,
            subscriptions.c.deleted_at.is_(None),
        ]
        if ids is not None:
            conditions.append(subscriptions.c.id.in_(list(ids)))
        if status:
            conditions.append(subscriptions.c.status == status)
        if target_url:
            conditions.append(subscriptions.c.target_url == target_url.strip())
        if platform:
            conditions.append(subscriptions.c.platform == platform)
        if event:
            conditions.append(
                subscriptions.c.id.in_(
                    select(subscription_events.c.subscription_id).where(
                        subscription_events.c.account_id == account_id,
                        subscription_events.c.event_type == event,
                    )
                )
            )
        where = and_(*conditions)
        with self.store.read() as conn:
            total = conn.execute(select(func.count()).select_from(subscriptions).where(where))
            rows = conn.execute(
                select(subscriptions)
                .where(where)
                .order_by(subscriptions.c.created_at.desc(), subscriptions.c.id.desc())
                .limit(limit)
                .offset((page - 1) * limit)
            ).all()
            return [serialize(self._opened(row)) for row in rows], int(total.scalar_one())

    # -- field handling ---------------------------------------------------------------------


def _fresh(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with every setting it leaves out at its default, as a new hook has it."""
    full = {**DEFAULTS, **body}
    if full["platform"] == "zapier" and full["rate_limit"] is None:
        full["rate_limit"] = ZAPIER_RATE_LIMIT
    return full


def _with_secret(row: Any) -> dict[str, Any]:
    """The answer to a subscribe, first or repeated: the hook with its current secret.

    A repeat is answered like the first, as an idempotent replay: n8n re-runs its `create`
    step when it lost the saved id, and Pipedream saves the secret on every `activate`.
    """
    return _with_secret_of(serialize(row), row)


def _with_secret_of(view: dict[str, Any], source: Any) -> dict[str, Any]:
    """`view` plus the shared secret of `source` (a row or changed fields); an ed25519
    hook's private key is never shown: its `public_key` is already in the view."""
    secret = source["secret"] if isinstance(source, dict) else source.secret
    return view if view["public_key"] else {**view, "secret": secret}
