"""How log lines look: readable text on a terminal (default) or one JSON object per line
(HOOKKIT_LOG_FORMAT=json), and gunicorn's logs under the same rules (`GunicornLogger`).

Lines logged with `logs.emit` carry named fields (`hookkit.request`: method, path, status,
duration_ms, account; `hookkit.delivery`: hook_id, event_id, webhook_id, host, status,
outcome, duration_ms, attempt, account); JSON lines hold them as members, text lines append
them as `key=value`. Nothing here adds a value the caller did not pass, and gunicorn's
request line, path, query, user and credential headers are masked before gunicorn formats
them (link tokens in `/actions/<token>` and `/portal/<token>` included).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger

from ..logs import fields_of, masked_path

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in fields_of(record).items():
            line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT`, then the record's fields as `key=value` (those that are set)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        shown = " ".join(
            f"{name}={value}" for name, value in fields_of(record).items() if value is not None
        )
        if not shown:
            return text
        head, newline, rest = text.partition("\n")  # a traceback stays below the line
        return f"{head} [{shown}]{newline}{rest}"


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (it may be swapped, e.g. by click)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(level: str, log_format: str) -> None:
    """The root logger writes to stderr at `level` in `log_format` (text or json); a second
    call replaces what the first installed, and handlers of others stay."""
    handler = _Stderr()
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


_CREDENTIAL = re.compile(r"authorization|api[-_]key|cookie|token|secret|password", re.I)
_URI_ATOMS = {"r", "U", "f", "{raw_uri}e", "{path_info}e", "{request_uri}e"}
_QUERY_ATOMS = {"q", "{query_string}e"}


class GunicornLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with link tokens, query values, users and credential headers
    masked in the access log (`gunicorn --logger-class connector.cli.logformat.GunicornLogger`,
    which `python -m connector serve` uses), and its lines in hookkit's format."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if not isinstance(value, str):
                continue
            if _CREDENTIAL.search(key) or key == "u":
                atoms[key] = "***" if value not in ("", "-") else value
            elif key in _QUERY_ATOMS:
                atoms[key] = masked_path("?" + value)[1:]
            elif key in _URI_ATOMS or (key.endswith("}e") and "/" in value):
                atoms[key] = masked_path(value)
        return atoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter(_FORMAT["value"]))


_FORMAT = {"value": "text"}  # what `use_format` chose for this process


def use_format(log_format: str) -> None:
    """The format `GunicornLogger` gives gunicorn's error log (set by the entry points)."""
    _FORMAT["value"] = log_format
