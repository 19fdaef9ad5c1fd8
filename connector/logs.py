"""Structured log lines: one line per request and per delivery attempt, with named fields.

Code that logs an operation calls `emit(logger, message, **fields)`; the entry points choose
how lines look (`cli.logformat`: readable `key=value` text on a terminal, or one JSON object per
line with HOOKKIT_LOG_FORMAT=json). `masked_path` hides the link tokens of `/actions/<token>`
and `/portal/<token>` wherever a path is logged (our request lines and gunicorn's access log).

This module never logs a value it is not given as a field, and callers never pass a secret,
an API key, a token, an `Authorization` value or a body. It imports nothing of hookkit.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# The attribute of a `LogRecord` that carries the fields (`extra={FIELDS: {...}}`).
FIELDS = "hookkit_fields"
# Paths whose last segment is a bearer credential: a signed one-click or portal link.
_TOKEN_PATH = re.compile(r"(/(?:actions|portal)/)[^/?#\s]+")


# A query value: `?a=1&b=2` → `?a=***&b=***` (queries may carry a receiver's token).
_QUERY_VALUE = re.compile(r"([?&][^=&#\s]*=)[^&#\s]*")


def masked_path(path: str) -> str:
    """`path` (or a request line or URL holding one) with link tokens and query values as
    `***`: `/actions/abc?x=1` → `/actions/***?x=***`."""
    return _QUERY_VALUE.sub(r"\1***", _TOKEN_PATH.sub(r"\1***", path))


def emit(logger: logging.Logger, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log `message` with `fields` (plain values: str, int, float, bool or None)."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={FIELDS: fields})


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The fields `emit` attached to `record` (empty for ordinary log calls)."""
    return dict(getattr(record, FIELDS, None) or {})
