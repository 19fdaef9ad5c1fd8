"""Configuration: one typed, frozen object built once from `HOOKKIT_*` environment variables.

Nothing else in hookkit reads `os.environ`; tests build a `Settings` with `replace(...)` or pass
a mapping to `create_app`. Every field, its variable and its default is listed in the README.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The signature schemes a hook may use (`wire.schemes` signs with them).
SIGNATURE_SCHEMES = ("standard-webhooks", "timestamped-hex", "hex", "ed25519", "none")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
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
    max_per_host: int = field(default=8, metadata={"env": "HOOKKIT_MAX_PER_HOST"})
    lease_seconds: float = field(
        default=60.0, metadata={"env": "HOOKKIT_LEASE", "parse": parse_duration}
    )
    poll_interval: float = field(
        default=1.0, metadata={"env": "HOOKKIT_POLL_INTERVAL", "parse": parse_duration}
    )
    embedded_worker: bool = field(default=True, metadata={"env": "HOOKKIT_EMBEDDED_WORKER"})
    failure_threshold: int = field(default=5, metadata={"env": "HOOKKIT_FAILURE_THRESHOLD"})
    max_body_bytes: int = field(default=1_048_576, metadata={"env": "HOOKKIT_MAX_BODY_BYTES"})
    response_body_limit: int = field(default=4096, metadata={"env": "HOOKKIT_RESPONSE_BODY_LIMIT"})
    secret_grace: float = field(
        default=86400.0, metadata={"env": "HOOKKIT_SECRET_GRACE", "parse": parse_duration}
    )
    smtp_url: str = field(default="", metadata={"env": "HOOKKIT_SMTP_URL"})
    smtp_from: str = field(default="hookkit@localhost", metadata={"env": "HOOKKIT_SMTP_FROM"})
    public_url: str = field(default="", metadata={"env": "HOOKKIT_PUBLIC_URL"})
    secret_key: str = field(default="", metadata={"env": "HOOKKIT_SECRET_KEY", "secret": True})
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
    # Comma-separated Fernet keys sealing hook secrets at rest (`store.secrets`): the first
    # seals, all open. Empty: a SQLite database's key file; PostgreSQL refuses to start.
    encryption_keys: str = field(default="", metadata={"env": "HOOKKIT_ENCRYPTION_KEYS"})

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
            "json_case": self.json_case not in ("snake", "camel"),
        }
        if 0 < len(self.secret_key) < MIN_SECRET_KEY_LENGTH:  # never repeat the key itself
            raise ValueError(
                f"HOOKKIT_SECRET_KEY is too short ({len(self.secret_key)} characters): use at "
                f"least {MIN_SECRET_KEY_LENGTH} random characters, e.g. from `python -c "
                "'import secrets; print(secrets.token_urlsafe(32))'`, or leave it empty "
                "to turn one-click links off"
            )
        bad = [name for name, wrong in problems.items() if wrong]
        if bad:
            rules = ", ".join(f"{_env_name(name)}={getattr(self, name)!r}" for name in bad)
            raise ValueError(
                f"out of range: {rules} (see README: ports 1-65535, jitter in [0, 1), limits "
                "timeouts and the lease positive, a header name a token, a JSON case snake or "
                f"camel, a signature scheme one of {', '.join(SIGNATURE_SCHEMES)})"
            )

    def __repr__(self) -> str:
        """Every field, but secrets as '***' and URLs without their password."""
        shown = []
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, str):
                secret = spec.metadata.get("secret") or _SECRET_NAME.search(spec.name)
                value = "***" if secret and value else _URL_PASSWORD.sub(r"\1:***@", value)
            shown.append(f"{spec.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

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
