"""Sample bodies and output fields: what a platform shows a user before any event arrives.

Samples are shaped exactly like deliveries (`wire.body.render`), from the account's recent
real events or, when it has none, the catalog's sample.
"""

from __future__ import annotations

from typing import Any

from ..catalog import Catalog, schema_fields, value_fields
from ..errors import ConfigError, ValidationError
from ..store.database import Store
from ..wire.body import BodySpec, render
from ..wire.envelope import envelope, envelope_schema
from ..wire.mapping import MappingFailed, compile_expression, passes
from .polling import recent

SAMPLE_WINDOW = 100  # recent events looked through when some may be skipped


def sample_envelope(catalog: Catalog, event_type: str, now: float) -> dict[str, Any]:
    """The catalog's sample in the shape a hook receives, for accounts with no events yet."""
    return envelope(f"evt_sample_{event_type}", event_type, now, catalog.get(event_type).sample)


def check_envelope(catalog: Catalog, expression: str, now: float) -> None:
    """Refuse a default body (HOOKKIT_ENVELOPE) that does not parse, or does not give an
    object for the sample of every event type: no delivery could be sent with it."""
    if not expression:
        return
    try:
        compile_expression(expression, "HOOKKIT_ENVELOPE")
    except ValidationError as exc:
        raise ConfigError(f"HOOKKIT_ENVELOPE: {exc.detail}") from None
    for name in catalog.names():
        try:
            render(BodySpec(default_body=expression), sample_envelope(catalog, name, now))
        except MappingFailed as exc:
            raise ConfigError(f"HOOKKIT_ENVELOPE: {exc}, for the sample of {name!r}") from None


def output_fields(
    catalog: Catalog, event_type: str, now: float, spec: BodySpec | None = None
) -> list[dict[str, str]]:
    """The flat fields (`key`, `label`, `type`) of the body a hook receives, for field pickers.

    The envelope's fields come from the schema, so fields the sample happens to lack are
    listed too; a body reshaped by a mapping or custom values can only be described by
    rendering the sample (raises `MappingFailed` when the mapping cannot).
    """
    if spec is None or not spec.reshapes:
        return schema_fields(envelope_schema(catalog.get(event_type).schema))
    return value_fields(render(spec, sample_envelope(catalog, event_type, now)))


def samples(
    store: Store,
    catalog: Catalog,
    account_id: str,
    event_type: str,
    now: float,
    *,
    spec: BodySpec,
    limit: int,
    filter: str | None = None,
    filters: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Bodies exactly as a hook with this body `spec` and filters would receive them.

    The account's recent real events, newest first, less those the hook would not be sent
    (filtered out, or the mapping fails on them); the catalog sample when none is left.
    Raises `MappingFailed` only when the mapping fails on the catalog sample too.
    """
    may_skip = bool(spec.mapping or filter or filters)
    found = recent(
        store, account_id, event_type=event_type, limit=SAMPLE_WINDOW if may_skip else limit
    )
    bodies = []
    for env in found:
        if not passes(env, expression=filter, filters=filters):
            continue
        try:
            bodies.append(render(spec, env))
        except MappingFailed:
            continue
        if len(bodies) == limit:
            break
    return bodies or [render(spec, sample_envelope(catalog, event_type, now))]
