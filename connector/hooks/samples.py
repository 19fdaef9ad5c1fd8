"""Samples and output fields as one hook, or one mapping, shapes them (Zapier's performList
and field pickers): `hook_id` lends the hook's mapping, custom values and filters, and an
explicit `mapping` overrides the hook's. Both come from query parameters, so a mapping
that fails is blamed on the parameter that brought it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..events import samples as event_samples
from ..wire.body import BodySpec
from ..wire.mapping import MappingFailed, compile_expression, refused
from .stored import body_spec
from .subscriptions import Subscriptions

T = TypeVar("T")


@dataclass(frozen=True)
class Shape:
    """The body asked for; `spec` None when neither a hook nor a mapping was given."""

    spec: BodySpec | None = None
    filter: str | None = None
    filters: dict[str, Any] | None = None
    blame: str = "$.query.mapping"  # where a failing mapping came from


def shape(
    subscriptions: Subscriptions, account_id: str, *, hook_id: str | None, mapping: str | None
) -> Shape:
    """The shape of `hook_id` (404 if not this account's), `mapping` overriding its mapping."""
    default_body = subscriptions.default_body
    found = Shape(BodySpec(default_body=default_body) if default_body else None)
    if hook_id:
        hook = subscriptions.row(account_id, hook_id)
        found = Shape(body_spec(hook, default_body), hook.filter, hook.filters, "$.query.hook_id")
    if mapping:  # `mapping=` left empty by a form means no mapping
        compile_expression(mapping, "$.query.mapping")
        custom = found.spec.custom_values if found.spec else None
        spec = BodySpec(mapping, custom, default_body)
        found = Shape(spec, found.filter, found.filters, "$.query.mapping")
    return found


def output_fields(
    subscriptions: Subscriptions,
    account_id: str,
    event_type: str,
    *,
    hook_id: str | None = None,
    mapping: str | None = None,
) -> list[dict[str, str]]:
    """The flat fields of the body, from the envelope's schema or the reshaped sample."""
    catalog, now = subscriptions.catalog, subscriptions.clock()
    return _shaped(
        subscriptions,
        account_id,
        event_type,
        hook_id,
        mapping,
        lambda found: event_samples.output_fields(catalog, event_type, now, found.spec),
    )


def samples(
    subscriptions: Subscriptions,
    account_id: str,
    event_type: str,
    *,
    limit: int,
    hook_id: str | None = None,
    mapping: str | None = None,
) -> list[dict[str, Any]]:
    """Bodies exactly as the hook would receive them, newest first; the catalog sample when
    the account has no such events (or none the hook would be sent)."""
    return _shaped(
        subscriptions,
        account_id,
        event_type,
        hook_id,
        mapping,
        lambda found: event_samples.samples(
            subscriptions.store,
            subscriptions.catalog,
            account_id,
            event_type,
            subscriptions.clock(),
            spec=found.spec or BodySpec(),
            limit=limit,
            filter=found.filter,
            filters=found.filters,
        ),
    )


def _shaped(
    subscriptions: Subscriptions,
    account_id: str,
    event_type: str,
    hook_id: str | None,
    mapping: str | None,
    produce: Callable[[Shape], T],
) -> T:
    """`produce` with the shape asked for; a mapping that fails is blamed on its parameter."""
    subscriptions.catalog.get(event_type)  # 404 for unknown types
    found = shape(subscriptions, account_id, hook_id=hook_id, mapping=mapping)
    try:
        return produce(found)
    except MappingFailed as exc:
        raise refused(exc, found.blame) from None
