"""The event catalog: event types (`event_types`), their output fields (`fields`), and the
JSON Schema validation every request body and event goes through (`validation`).

A bottom layer: it imports no other part of hookkit but `errors`.
"""

from .event_types import Catalog, EventType
from .fields import json_type, schema_fields, value_fields

__all__ = ["Catalog", "EventType", "json_type", "schema_fields", "value_fields"]
