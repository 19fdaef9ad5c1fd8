"""The event catalog: which event types exist, what their data looks like, and a sample of each.

Every event type is a JSON Schema (draft 2020-12) in ``schemas/<name>.json`` and a sample of
its ``data`` object in ``samples/<name>.json``. `Catalog.load` reads and checks both once, at
start-up, so a broken file stops the service with a message naming the file and the place in
it, instead of surfacing later as a 500 or as a hook that never fires. After that the catalog
is read-only: it answers which names exist, validates the ``data`` of every published event,
and hands out each type's schema and sample (`catalog.fields` derives the output fields
that Zapier and Make show users for a trigger).

This module never fetches anything over the network: a ``$ref`` that points outside its own
schema file is a start-up error, not a download.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing.exceptions import Unresolvable

from ..errors import CatalogError, FieldError, NotFound
from .validation import cap, field_errors, json_path, validator_for

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class EventType:
    """One event type of the catalog, as the API shows it.

    `schema` and `sample` are shared by every caller: treat them as read-only and copy
    before reshaping (a mapping, merged custom values).
    """

    name: str
    title: str
    description: str
    schema: dict[str, Any]
    sample: dict[str, Any]

    def summary(self) -> dict[str, str]:
        """The short form used in listings, where schemas and samples would only add weight."""
        return {"name": self.name, "title": self.title, "description": self.description}


class Catalog:
    """All event types, checked at start-up and validated against on every publish."""

    def __init__(self, event_types: Iterable[EventType]) -> None:
        """Index trusted event types; `load` is the way to read and check files.

        Validators are built here, once, because `validate` runs on every published event.
        """
        self._types = {event_type.name: event_type for event_type in event_types}
        self._validators = {
            name: validator_for(event_type.schema) for name, event_type in self._types.items()
        }

    @classmethod
    def load(cls, schemas_dir: Path, samples_dir: Path) -> Catalog:
        """Read every ``*.json`` schema and sample, check them, and fail loudly if anything is off.

        Raises `CatalogError` naming the file (and the JSON path or line) when a file is not
        JSON, a schema is not a valid draft 2020-12 schema, a schema and a sample do not come
        in pairs, or a sample does not validate against its schema.
        """
        schema_files = _json_files(schemas_dir)
        sample_files = _json_files(samples_dir)
        if not schema_files:
            raise CatalogError(f"{schemas_dir}: no event type schemas (*.json) found")
        unpaired = [
            f"{sample_files[name]}: sample has no schema (expected {schemas_dir / f'{name}.json'})"
            for name in sorted(sample_files.keys() - schema_files.keys())
        ]
        unpaired += [
            f"{schema_files[name]}: schema has no sample (expected {samples_dir / f'{name}.json'})"
            for name in sorted(schema_files.keys() - sample_files.keys())
        ]
        if unpaired:
            raise CatalogError("; ".join(unpaired))

        event_types = []
        for name in sorted(schema_files):
            schema_file, sample_file = schema_files[name], sample_files[name]
            schema = _read_json(schema_file)
            _check_schema(schema_file, schema)
            event_types.append(
                EventType(
                    name=name,
                    # A missing title or description should not keep the service down;
                    # the meta-schema already rejects ones that are not strings.
                    title=schema.get("title", name),
                    description=schema.get("description", ""),
                    schema=schema,
                    sample=_read_json(sample_file),
                )
            )

        catalog = cls(event_types)
        for event_type in event_types:
            sample_file = sample_files[event_type.name]
            try:
                errors = catalog.validate(event_type.name, event_type.sample, path_prefix="$")
            except Unresolvable as exc:
                raise CatalogError(
                    f"{schema_files[event_type.name]}: cannot resolve $ref {exc.ref!r} "
                    "(reached while checking the sample)"
                ) from None
            if errors:
                problems = "; ".join(f"{error.path}: {error.message}" for error in errors)
                raise CatalogError(
                    f"{sample_file}: sample does not match {schema_files[event_type.name]}: "
                    f"{problems}"
                )
        return catalog

    def names(self) -> list[str]:
        """Event type names in a stable order, for listings and error messages."""
        return sorted(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def get(self, name: str) -> EventType:
        """The event type called `name`; unknown names are a client error, hence `NotFound`."""
        try:
            return self._types[name]
        except KeyError:
            raise NotFound(f"unknown event type {name!r}") from None

    def validate(self, name: str, data: object, *, path_prefix: str = "$.data") -> list[FieldError]:
        """Every way `data` fails the schema of `name`, sorted by path; empty when it is valid.

        All errors are reported at once so a client fixes its payload in one round trip.
        Paths start with `path_prefix` because the client sent `data` inside an envelope;
        a missing required property is reported at the property's own path.
        """
        self.get(name)  # NotFound for unknown names, before anything else
        return field_errors(self._validators[name], data, path_prefix)


def _json_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        raise CatalogError(f"{directory}: not a directory")
    return {path.stem: path for path in sorted(directory.glob("*.json")) if path.is_file()}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: not valid JSON: not UTF-8 ({exc.reason})") from None


def _check_schema(path: Path, schema: object) -> None:
    if not isinstance(schema, dict):
        raise CatalogError(f"{path}: $: a schema must be a JSON object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise CatalogError(
            f"{path}: not a valid draft 2020-12 schema at {exc.json_path}: {cap(exc.message)}"
        ) from None
    # The meta-schema accepts any dialect URI here, but this catalog only speaks 2020-12.
    dialect = schema.get("$schema", _DIALECT)
    if dialect.rstrip("#") != _DIALECT:
        raise CatalogError(f"{path}: $['$schema']: {dialect!r} is not draft 2020-12 ({_DIALECT})")
    # Nothing is fetched, so a reference to another document could only fail later, on
    # whichever published event first reaches it: refuse it now instead.
    outside = next(_outside_refs(schema, []), None)
    if outside is not None:
        where, ref = outside
        raise CatalogError(
            f"{path}: $ref {ref!r} at ${json_path(where)} points outside this file; "
            "schemas must be self-contained"
        )


# Keywords whose values are instance data, where a "$ref" key is not a reference.
_DATA_KEYWORDS = {"const", "enum", "examples", "default"}


def _outside_refs(node: object, where: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef"):
                if isinstance(value, str) and not value.startswith("#"):
                    yield [*where, key], value
            elif key not in _DATA_KEYWORDS:
                yield from _outside_refs(value, [*where, key])
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _outside_refs(item, [*where, index])
