"""The SMTP side of failure e-mails: `HOOKKIT_SMTP_URL` parsed into an `SmtpServer`, and an
authenticated connection to it (plain, STARTTLS or implicit TLS).

This module never logs, and no error message of it repeats, the SMTP password.
"""

from __future__ import annotations

import functools
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from ..config import parse_bool

_URL_FORMS = (
    "use smtp://[user:password@]host[:port][?starttls=true] or smtps://[user:password@]host[:port]"
)
_OPTIONS = ("insecure", "starttls")


# -- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send, parsed from HOOKKIT_SMTP_URL."""

    host: str
    port: int
    security: str  # none | starttls | tls (implicit TLS, smtps://)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # `?insecure=true`: the operator allows AUTH over plain smtp:// (the password crosses the
    # network unencrypted); the notifier warns about it at start-up.
    insecure: bool = False

    @property
    def password_in_clear(self) -> bool:
        """Whether logging in sends the password unencrypted (plain smtp:// with a user)."""
        return self.security == "none" and self.username is not None


def parse_smtp_url(url: str) -> SmtpServer | None:
    """`smtp://[user:pass@]host[:port][?starttls=true]` or `smtps://...`; empty means none.

    User and password are percent-decoded. The default port is 25 for smtp, 465 for smtps.
    A user on plain smtp:// (no STARTTLS) is refused unless `?insecure=true` allows sending
    the password unencrypted.
    Raises ValueError naming HOOKKIT_SMTP_URL; the message never repeats the password.
    """
    url = url.strip()
    if not url:
        return None

    def bad(reason: str) -> ValueError:
        return ValueError(f"HOOKKIT_SMTP_URL: {reason}; {_URL_FORMS}")

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise bad(f"unsupported scheme {parts.scheme!r}" if parts.scheme else "not a URL")
    try:
        port = parts.port
    except ValueError:
        raise bad("the port must be a number from 1 to 65535") from None
    if port == 0:
        raise bad("the port must be a number from 1 to 65535")
    if not parts.hostname:
        raise bad("no host name")
    if parts.path not in ("", "/") or parts.fragment:
        raise bad("a path or fragment means nothing here")
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise bad(f"unknown option {unknown[0]!r} (the options are {' and '.join(_OPTIONS)})")
    flags = {"insecure": False, "starttls": False}
    for name in flags:
        if name in options:
            try:
                (value,) = options[name]
                flags[name] = parse_bool(value)
            except ValueError:
                raise bad(f"{name} must be true or false") from None
    starttls, insecure = flags["starttls"], flags["insecure"]
    if scheme == "smtps" and starttls:
        raise bad("smtps:// is encrypted from the start; for STARTTLS use smtp://...?starttls=true")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise bad("a password needs a user name")
    server = SmtpServer(
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        security="tls" if scheme == "smtps" else "starttls" if starttls else "none",
        username=username,
        password=password,
        insecure=insecure,
    )
    if server.password_in_clear and not insecure:
        raise bad(
            "logging in over plain smtp:// would send the password unencrypted; add "
            "?starttls=true, use smtps://, or allow it explicitly with ?insecure=true"
        )
    return server


def connect(server: SmtpServer, timeout: float, tls: Callable[[], ssl.SSLContext]) -> smtplib.SMTP:
    """An open, logged-in connection; `tls` gives the context when TLS is used.

    `timeout` bounds the connection and each reply after it.
    """
    smtp: smtplib.SMTP
    if server.security == "tls":
        smtp = smtplib.SMTP_SSL(
            server.host,
            server.port,
            local_hostname=_local_hostname(),
            timeout=timeout,
            context=tls(),
        )
    else:
        smtp = smtplib.SMTP(
            server.host, server.port, local_hostname=_local_hostname(), timeout=timeout
        )
    try:
        if server.security == "starttls":
            smtp.starttls(context=tls())
        if server.username:
            smtp.login(server.username, server.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


@functools.cache
def _local_hostname() -> str:
    # smtplib looks this up (DNS) on every connection unless told; once per process is enough.
    return socket.getfqdn()
