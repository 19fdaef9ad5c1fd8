"""Sending one attempt and deciding what happens next.

`Sender` is the only HTTP client that talks to target URLs: asyncio + aiohttp, so hundreds of
slow receivers cost sockets, not threads. It never follows redirects, bounds every request
by the connect and read timeouts, and re-checks the resolved address of every connection
(`targets.SafeResolver`), so a DNS name that later points inward is refused.
`attempts.attempt()` turns its `Outcome` into a `Result`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from ..config import Settings
from ..wire.targets import (
    SafeResolver,
    UnsafeAddressError,
    check_connect_host,
    check_connect_scheme,
)

# Statuses whose `Retry-After` header asks us to slow down (`attempts.decide` honours it).
SLOW_DOWN_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Outcome:
    """The raw result of one HTTP exchange."""

    response_code: int | None
    error: str | None
    duration_ms: float
    response_body: str | None
    # The raw `Retry-After` header of a 429 or 503 answer (delay-seconds or an HTTP-date).
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


class Sender:
    """An aiohttp session configured from Settings; use as an async context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Sender:
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit=0,  # concurrency is bounded by the worker, per host and overall
            resolver=SafeResolver(allow_private=s.allow_private_targets),
            ttl_dns_cache=30,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=s.connect_timeout + s.read_timeout,
                sock_connect=s.connect_timeout,
                sock_read=s.read_timeout,
            ),
            trust_env=False,  # proxy settings are read once, from HOOKKIT_HTTP_PROXY
            # No `skip_auto_headers=("User-Agent",)`: every request carries hookkit's own
            # User-Agent (`wire.outgoing.build_request`), and skipping makes aiohttp copy the
            # headers on every request.
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        """One request; every failure becomes an Outcome with a readable error, never raises."""
        assert self.session is not None, "use Sender as an async context manager"
        limit = self.settings.response_body_limit
        started = time.perf_counter()
        code: int | None = None
        text: str | None = None
        error: str | None = None
        retry_after: str | None = None
        parts = urlsplit(url)
        refused = check_connect_scheme(
            parts.scheme, allow_private=self.settings.allow_private_targets
        )
        if refused is not None:  # e.g. an http:// hook saved in development mode
            return Outcome(None, refused, 0.0, None)
        try:
            host = parts.hostname or ""
            check_connect_host(host, allow_private=self.settings.allow_private_targets)
            async with self.session.request(
                method,
                url,
                data=body if method != "GET" else None,
                headers=headers,
                allow_redirects=False,
                proxy=self.settings.http_proxy or None,
            ) as response:
                code = response.status
                if code in SLOW_DOWN_STATUSES:
                    retry_after = response.headers.get("Retry-After")
                raw = await _read_prefix(response.content, limit)
                text = raw.decode("utf-8", errors="replace")
                if not 200 <= code < 300:
                    error = f"HTTP {code} {response.reason or ''}".strip()
                    if 300 <= code < 400:
                        where = response.headers.get("Location", "?")
                        error += f" (redirect to {where}; redirects are not followed)"
        except UnsafeAddressError as exc:
            error = f"refused: {exc}"
        except TimeoutError:
            cfg = self.settings
            error = f"timed out (connect {cfg.connect_timeout:g}s, read {cfg.read_timeout:g}s)"
        except aiohttp.ClientSSLError as exc:
            error = f"TLS error: {exc}"
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error if isinstance(exc.os_error, UnsafeAddressError) else None
            error = f"refused: {cause}" if cause else f"connection failed: {exc}"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except ValueError as exc:  # e.g. an URL aiohttp cannot parse
            error = f"invalid request: {exc}"
        duration = (time.perf_counter() - started) * 1000
        return Outcome(code, error, duration, text, retry_after)


async def _read_prefix(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to `limit` bytes of a body: one `read` may return less while more is coming."""
    raw = b""
    while len(raw) < limit:
        chunk = await stream.read(limit - len(raw))
        if not chunk:
            break
        raw += chunk
    return raw
