"""Configuration: one typed, frozen object built once from `HOOKKIT_*` environment variables.

Nothing else in hookkit reads `os.environ`; tests build a `Settings` with `replace(...)` or pass
a mapping to `create_app`. Every field, its variable and its default is listed in the README.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The signature schemes a hook may use (`wire.schemes` signs with them).
SIGNATURE_SCHEMES = ("standard-webhooks", "timestamped-hex", "hex", "ed25519", "none")
# When an API process without an embedded worker needs a live separate worker to be ready.
EXPECT_WORKERS = ("when-due", "always", "never")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
# One CSP source of HOOKKIT_PORTAL_FRAME_ANCESTORS: a scheme + host (wildcard subdomains and
# a port allowed) or 'self'; nothing that could end the directive or the header.
_FRAME_SOURCE = re.compile(r"'self'|https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
# The shortest HOOKKIT_SECRET_KEY accepted: it signs one-click links (itsdangerous HMAC).
MIN_SECRET_KEY_LENGTH = 32
# `repr(Settings)` shows these fields as '***' when set (and any field whose metadata says
# `"secret": True`, or whose name says key/secret/password); URLs show no password.
_SECRET_NAME = re.compile(r"key|secret|password|token", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/@:?#]*):[^/@?#]*@", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """`"5s"`, `"30m"`, `"2h"`, `"250ms"` or bare seconds → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 5s, 5m, 2h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_schedule(text: str) -> tuple[float, ...]:
    """`"5s,5m,30m"` → delays before each retry; empty means no retries."""
    return tuple(parse_duration(part) for part in text.split(",") if part.strip())


def parse_rate(text: str) -> tuple[int, float]:
    """`"1000/s"`, `"600/m"`, `"10/5s"` → (requests, window seconds); `off`/`0` → (0, 1.0)."""
    value = text.strip().lower()
    if value in {"", "0", "off", "none"}:
        return (0, 1.0)
    count, slash, window = value.partition("/")
    if not slash or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"not a rate: {text!r} (use e.g. 1000/s, 600/m, or off)")
    window = window.strip()
    seconds = parse_duration(window if window[:1].isdigit() else f"1{window}")
    if seconds <= 0:
        raise ValueError(f"not a rate: {text!r} (the window must be longer than 0)")
    return (int(count), seconds)


def parse_bool(text: str) -> bool:
    """`true/yes/on/1` or `false/no/off/0` (any case), for variables and URL options."""
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r} (use true or false)")


@dataclass(frozen=True)
class Settings:
    """Every tunable of the service; field metadata names the environment variable."""

    database_url: str = field(
        default="sqlite:///hookkit.db", metadata={"env": "HOOKKIT_DATABASE_URL"}
    )
    auto_migrate: bool = field(default=True, metadata={"env": "HOOKKIT_AUTO_MIGRATE"})
    host: str = field(default="127.0.0.1", metadata={"env": "HOOKKIT_HOST"})
    port: int = field(default=8000, metadata={"env": "HOOKKIT_PORT"})
    allow_private_targets: bool = field(
        default=False, metadata={"env": "HOOKKIT_ALLOW_PRIVATE_TARGETS"}
    )
    retry_schedule: tuple[float, ...] = field(
        default=(5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0),
        metadata={"env": "HOOKKIT_RETRY_SCHEDULE", "parse": parse_schedule},
    )
    retry_jitter: float = field(default=0.1, metadata={"env": "HOOKKIT_RETRY_JITTER"})
    connect_timeout: float = field(
        default=5.0, metadata={"env": "HOOKKIT_CONNECT_TIMEOUT", "parse": parse_duration}
    )
    read_timeout: float = field(
        default=15.0, metadata={"env": "HOOKKIT_READ_TIMEOUT", "parse": parse_duration}
    )
    max_in_flight: int = field(default=64, metadata={"env": "HOOKKIT_MAX_IN_FLIGHT"})
    # The most requests one `host:port` gets at once; each host's own limit adapts below it
    # (`delivery.host_limits`), starting at 4.
    max_per_host: int = field(default=64, metadata={"env": "HOOKKIT_MAX_PER_HOST"})
    lease_seconds: float = field(
        default=60.0, metadata={"env": "HOOKKIT_LEASE", "parse": parse_duration}
    )
    poll_interval: float = field(
        default=1.0, metadata={"env": "HOOKKIT_POLL_INTERVAL", "parse": parse_duration}
    )
    embedded_worker: bool = field(default=True, metadata={"env": "HOOKKIT_EMBEDDED_WORKER"})
    failure_threshold: int = field(default=5, metadata={"env": "HOOKKIT_FAILURE_THRESHOLD"})
    max_body_bytes: int = field(default=1_048_576, metadata={"env": "HOOKKIT_MAX_BODY_BYTES"})
    # How long a process trusts an API key it verified (`hooks.accounts.KeyCache`): a
    # revoked key stops working within this time. 0: look every key up.
    api_key_cache: float = field(
        default=5.0, metadata={"env": "HOOKKIT_API_KEY_CACHE", "parse": parse_duration}
    )
    # Requests per API key and window, shared by every process on the database
    # (`hooks.api_limits`): (0, …) is off.
    api_rate_limit: tuple[int, float] = field(
        default=(1000, 1.0), metadata={"env": "HOOKKIT_API_RATE_LIMIT", "parse": parse_rate}
    )
    response_body_limit: int = field(default=4096, metadata={"env": "HOOKKIT_RESPONSE_BODY_LIMIT"})
    secret_grace: float = field(
        default=86400.0, metadata={"env": "HOOKKIT_SECRET_GRACE", "parse": parse_duration}
    )
    smtp_url: str = field(default="", metadata={"env": "HOOKKIT_SMTP_URL"})
    smtp_from: str = field(default="hookkit@localhost", metadata={"env": "HOOKKIT_SMTP_FROM"})
    public_url: str = field(default="", metadata={"env": "HOOKKIT_PUBLIC_URL"})
    secret_key: str = field(default="", metadata={"env": "HOOKKIT_SECRET_KEY", "secret": True})
    # Who may show the end-user portal in an iframe: CSP frame-ancestors sources, e.g.
    # "https://app.example.com https://*.example.com". Empty: only hookkit's own pages.
    portal_frame_ancestors: str = field(
        default="", metadata={"env": "HOOKKIT_PORTAL_FRAME_ANCESTORS"}
    )
    http_proxy: str = field(default="", metadata={"env": "HOOKKIT_HTTP_PROXY"})
    schemas_dir: Path = field(default=ROOT / "schemas", metadata={"env": "HOOKKIT_SCHEMAS_DIR"})
    samples_dir: Path = field(default=ROOT / "samples", metadata={"env": "HOOKKIT_SAMPLES_DIR"})
    log_level: str = field(default="INFO", metadata={"env": "HOOKKIT_LOG_LEVEL"})
    json_case: str = field(default="snake", metadata={"env": "HOOKKIT_JSON_CASE"})
    signature_scheme: str = field(
        default="standard-webhooks", metadata={"env": "HOOKKIT_SIGNATURE_SCHEME"}
    )
    signature_header: str = field(default="", metadata={"env": "HOOKKIT_SIGNATURE_HEADER"})
    envelope: str = field(default="", metadata={"env": "HOOKKIT_ENVELOPE"})
    # The most deliveries and missed events one replay may cover (`delivery.replays`).
    replay_max_count: int = field(default=10_000, metadata={"env": "HOOKKIT_REPLAY_MAX_COUNT"})
    # Comma-separated Fernet keys sealing hook secrets at rest (`store.secrets`): the first
    # seals, all open. Empty: a SQLite database's key file; PostgreSQL refuses to start.
    encryption_keys: str = field(default="", metadata={"env": "HOOKKIT_ENCRYPTION_KEYS"})
    # Operating hookkit (docs/operations.md): metrics, logs, retention, shutdown.
    metrics_token: str = field(
        default="", metadata={"env": "HOOKKIT_METRICS_TOKEN", "secret": True}
    )
    metrics_dir: str = field(default="", metadata={"env": "HOOKKIT_METRICS_DIR"})
    log_format: str = field(default="text", metadata={"env": "HOOKKIT_LOG_FORMAT"})
    retention: float = field(
        default=30 * 86400.0, metadata={"env": "HOOKKIT_RETENTION", "parse": parse_duration}
    )
    retention_failed: float = field(
        default=90 * 86400.0,
        metadata={"env": "HOOKKIT_RETENTION_FAILED", "parse": parse_duration},
    )
    prune_interval: float = field(
        default=3600.0, metadata={"env": "HOOKKIT_PRUNE_INTERVAL", "parse": parse_duration}
    )
    shutdown_grace: float = field(
        default=20.0, metadata={"env": "HOOKKIT_SHUTDOWN_GRACE", "parse": parse_duration}
    )
    # Worker heartbeats (`delivery.heartbeat`, docs/operations.md "Health and readiness"):
    # each worker writes one every HOOKKIT_HEARTBEAT; one silent for HOOKKIT_WORKER_TIMEOUT is
    # gone. HOOKKIT_EXPECT_WORKERS says when an API without an embedded worker needs a live
    # one to be ready: when-due (a delivery overdue by the timeout), always, or never.
    heartbeat: float = field(
        default=5.0, metadata={"env": "HOOKKIT_HEARTBEAT", "parse": parse_duration}
    )
    worker_timeout: float = field(
        default=30.0, metadata={"env": "HOOKKIT_WORKER_TIMEOUT", "parse": parse_duration}
    )
    expect_workers: str = field(default="when-due", metadata={"env": "HOOKKIT_EXPECT_WORKERS"})
    # OpenTelemetry traces and a `traceparent` on deliveries (`connector.tracing`), when the
    # optional tracing extra is installed.
    tracing: bool = field(default=False, metadata={"env": "HOOKKIT_TRACING"})

    def __post_init__(self) -> None:
        """Refuse values the service cannot run with, naming the variable to fix."""
        problems = {
            "signature_scheme": self.signature_scheme not in SIGNATURE_SCHEMES,
            "signature_header": not _HEADER_NAME.fullmatch(self.signature_header or "X"),
            "port": not 0 < self.port < 65536,
            "retry_jitter": not 0 <= self.retry_jitter < 1,
            "retry_schedule": any(delay < 0 for delay in self.retry_schedule),
            "connect_timeout": self.connect_timeout <= 0,
            "read_timeout": self.read_timeout <= 0,
            "max_in_flight": self.max_in_flight < 1,
            "max_per_host": self.max_per_host < 1,
            "lease_seconds": self.lease_seconds <= 0,
            "poll_interval": self.poll_interval <= 0,
            "failure_threshold": self.failure_threshold < 0,
            "max_body_bytes": self.max_body_bytes < 1,
            "response_body_limit": self.response_body_limit < 0,
            "secret_grace": self.secret_grace < 0,
            "replay_max_count": self.replay_max_count < 1,
            "log_format": self.log_format not in ("text", "json"),
            "log_level": self.log_level.upper() not in _LOG_LEVELS,
            "retention": self.retention < 0,
            "retention_failed": self.retention_failed < 0,
            "prune_interval": self.prune_interval <= 0,
            "shutdown_grace": self.shutdown_grace < 0,
            "heartbeat": self.heartbeat <= 0,
            "worker_timeout": self.worker_timeout <= self.heartbeat,
            "expect_workers": self.expect_workers not in EXPECT_WORKERS,
            "json_case": self.json_case not in ("snake", "camel"),
            "portal_frame_ancestors": not all(
                _FRAME_SOURCE.fullmatch(source) for source in self.portal_frame_ancestors.split()
            ),
        }
        if 0 < len(self.secret_key) < MIN_SECRET_KEY_LENGTH:  # never repeat the key itself
            raise ValueError(
                f"HOOKKIT_SECRET_KEY is too short ({len(self.secret_key)} characters): use at "
                f"least {MIN_SECRET_KEY_LENGTH} random characters, e.g. from `python -c "
                "'import secrets; print(secrets.token_urlsafe(32))'`, or leave it empty "
                "to turn one-click links off"
            )
        if self.allow_private_targets and not is_loopback(self.host):
            raise ValueError(
                f"HOOKKIT_ALLOW_PRIVATE_TARGETS=true while HOOKKIT_HOST={self.host} listens "
                "beyond this machine: anyone who reaches it could make hookkit call your private "
                "network; development mode listens on 127.0.0.1 only"
            )
        bad = [name for name, wrong in problems.items() if wrong]
        if bad:
            rules = ", ".join(f"{_env_name(name)}={getattr(self, name)!r}" for name in bad)
            raise ValueError(
                f"out of range: {rules} (see README: ports 1-65535, jitter in [0, 1), limits "
                "timeouts and the lease positive, a header name a token, a JSON case snake or "
                f"camel, a signature scheme one of {', '.join(SIGNATURE_SCHEMES)}, the worker "
                "timeout longer than the heartbeat, expected workers one of "
                f"{', '.join(EXPECT_WORKERS)})"
            )

    def __repr__(self) -> str:
        """Every field, but secrets as '***' and URLs without their password."""
        shown = ", ".join(f"{spec.name}={value!r}" for spec, value in self.masked())
        return f"{type(self).__name__}({shown})"

    def masked(self) -> list[tuple[Any, Any]]:
        """`(field, value)` of every setting as it may be shown: secrets as '***' and URLs
        without their password (`repr` and `python -m connector config`)."""
        shown = []
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, str):
                secret = spec.metadata.get("secret") or _SECRET_NAME.search(spec.name)
                value = "***" if secret and value else _URL_PASSWORD.sub(r"\1:***@", value)
            shown.append((spec, value))
        return shown

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every `HOOKKIT_*` variable; a bad value names its variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = spec.metadata["env"]
            if name not in environ:
                continue
            raw = environ[name]
            try:
                values[spec.name] = _convert(spec, raw)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return cls(**values)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """Programmatic overrides (tests, embedding); strings are parsed like the env."""
        by_name = {spec.name: spec for spec in fields(self)}
        unknown = sorted(set(overrides) - set(by_name))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        converted = {
            key: _convert(by_name[key], value) if isinstance(value, str) else value
            for key, value in overrides.items()
        }
        return replace(self, **converted)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Variables of the test suite (tests/conftest.py), not settings: never called unknown.
_NOT_SETTINGS = ("HOOKKIT_TEST_", "HOOKKIT_REQUIRE_POSTGRES")


def env_problems(environ: Mapping[str, str]) -> list[str]:
    """Every problem of the `HOOKKIT_*` variables in `environ`, one line each (none: fine):
    unknown names (with the closest known one), values that do not parse, values out of
    range and unsafe combinations."""
    known = {spec.metadata["env"]: spec for spec in fields(Settings)}
    problems = []
    for name in sorted(environ):
        if not name.startswith("HOOKKIT_") or name in known or name.startswith(_NOT_SETTINGS):
            continue
        suffixes = {env.removeprefix("HOOKKIT_"): env for env in known}
        close = difflib.get_close_matches(name.removeprefix("HOOKKIT_"), suffixes, n=1)
        hint = f"; did you mean {suffixes[close[0]]}?" if close else " (see README: Configuration)"
        problems.append(f"{name}: unknown setting{hint}")
    values: dict[str, Any] = {}
    for name, spec in known.items():
        if name in environ:
            try:
                values[spec.name] = _convert(spec, environ[name])
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
    if len(values) == len(known.keys() & environ.keys()):
        try:
            Settings(**values)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def is_loopback(host: str) -> bool:
    """Whether listening on `host` is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _env_name(field_name: str) -> str:
    return next(s.metadata["env"] for s in fields(Settings) if s.name == field_name)


def _convert(spec: Any, raw: str) -> Any:
    parse = spec.metadata.get("parse")
    if parse is not None:
        return parse(raw)
    kind = spec.type
    if kind == "bool":
        return parse_bool(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "Path":
        return Path(raw)
    return raw
