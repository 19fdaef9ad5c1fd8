"""The envelope every hook receives unless a mapping reshapes it, and how times are written.

`{"id", "type", "timestamp", "data"}` with `timestamp` in ISO-8601 UTC with milliseconds and
a `Z`: what Make's date triggers read, and what the API shows for every stored time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso(ts: float | None) -> str | None:
    """UNIX seconds → ISO-8601 UTC with milliseconds and a `Z` (what Make's date triggers read)."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(event_id: str, event_type: str, created_at: float, data: Any) -> dict[str, Any]:
    """The standard body: `{"id", "type", "timestamp", "data"}`."""
    return {"id": event_id, "type": event_type, "timestamp": iso(created_at), "data": data}


def envelope_schema(data_schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of the envelope around `data` matching `data_schema`."""
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string", "title": "ID"},
            "type": {"type": "string", "title": "Type"},
            "timestamp": {"type": "string", "format": "date-time", "title": "Timestamp"},
            "data": {**data_schema, "title": "Data"},
        },
        "required": ["id", "type", "timestamp", "data"],
    }
