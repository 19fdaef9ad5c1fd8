"""Target URL safety: a webhook delivery must never reach an internal network (SSRF).

Target URLs come from users, so hookkit checks them twice, against one address policy
(`forbidden_reason`):

* `check_target_url` at subscribe time, without DNS: scheme, credentials, port, IP-literal
  hosts in every spelling that the sender's URL parser (yarl) or libc would accept, and names
  that only mean something inside a network (`localhost`, `*.internal`, ...).
* `SafeResolver` at connect time, plugged into the sender's `aiohttp.TCPConnector`: every
  address DNS returns is checked again, so a name that resolves, or later rebinds, to an
  internal address is refused.
* aiohttp never calls the resolver for IP-literal hosts, so the sender also calls
  `check_connect_host` with each request's host.

Only globally routable unicast addresses pass. `allow_private=True` (development) also lets
loopback, private, carrier-grade NAT and link-local addresses and local names through, but
never cloud metadata endpoints: those hand out credentials.

This module must never resolve names at subscribe time (the answer would be stale by
delivery time) and must never let an address that `forbidden_reason` refuses reach connect().
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import socket
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlsplit

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from ..errors import UnsafeTarget, ValidationError

__all__ = [
    "SafeResolver",
    "UnsafeAddressError",
    "check_connect_host",
    "check_connect_scheme",
    "check_target_url",
    "forbidden_reason",
]

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# First match wins, so the specific entries come before the ranges that contain them.
# Metadata endpoints hand out cloud credentials, which is why even development mode refuses
# them: AWS/GCP/Azure/OpenStack, AWS ECS task credentials, AWS EKS Pod Identity, Alibaba,
# Azure WireServer.
_ADDRESS_TABLE: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (_V4("169.254.169.254/32"), "cloud metadata"),
    (_V4("169.254.170.2/32"), "cloud metadata"),
    (_V4("169.254.170.23/32"), "cloud metadata"),
    (_V4("100.100.100.200/32"), "cloud metadata"),
    (_V4("168.63.129.16/32"), "cloud metadata"),
    (_V6("fd00:ec2::254/128"), "cloud metadata"),
    (_V6("fd00:ec2::23/128"), "cloud metadata"),
    (_V4("0.0.0.0/32"), "unspecified"),
    (_V4("0.0.0.0/8"), "this-network"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.88.99.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("fc00::/7"), "private"),
    (_V6("ff00::/8"), "multicast"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("2001:2::/48"), "benchmarking"),
    (_V6("2001::/32"), "Teredo"),
)

# What development mode relaxes: the networks a developer's own receiver lives on.
_DEVELOPMENT_ALLOWED = frozenset(
    {"loopback", "private", "carrier-grade NAT", "link-local", "local network", "single-label"}
)

# These prefixes carry traffic to exactly the embedded IPv4 host, so that host decides.
_IPV4_MAPPED = _V6("::ffff:0:0/96")
_NAT64 = _V6("64:ff9b::/96")
_SIXTOFOUR = _V6("2002::/16")
# Deprecated ways to embed IPv4 that no longer route; refused, but the embedded host is
# reported first because it says more.
_IPV4_COMPATIBLE = _V6("::/96")
_IPV4_TRANSLATED = _V6("::ffff:0:0:0/96")

_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# Names that never resolve on the public internet (RFC 6761, RFC 6762 appendix G, RFC 8375).
_LOCAL_SUFFIXES = (
    "local",
    "internal",
    "home.arpa",
    "localdomain",
    "lan",
    "intranet",
    "corp",
    "home",
    "private",
)

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?", re.ASCII)
_IPV4_PART = re.compile(r"0x[0-9a-f]*|[0-9]+", re.ASCII | re.IGNORECASE)


class UnsafeAddressError(OSError):
    """The connect-time check refused every address of a host.

    An `OSError`, so aiohttp reports it like any other connection failure: wrapped in a
    `ClientConnectorError` whose `os_error` and `__cause__` are this error. `refused` holds
    `(address, reason)` pairs.
    """

    def __init__(self, host: str, refused: Sequence[tuple[str, str]]) -> None:
        self.host = host
        self.refused = tuple(refused)
        addresses = ", ".join(f"{address} ({reason})" for address, reason in self.refused)
        # A literal host refused as itself needs no "resolved for".
        resolved = any(address != host for address, _ in self.refused)
        super().__init__(
            f"refusing to connect to {addresses}" + (f" resolved for {host}" if resolved else "")
        )


def forbidden_reason(address: str | IPAddress, *, allow_private: bool) -> str | None:
    """Return why `address` must not be connected to ("loopback", ...), or None if it may.

    Strings may use any IPv4 spelling libc accepts (`127.1`, `0x7f.0.0.1`, `2130706433`) and
    IPv6 zone ids; anything that is not an IP address is refused rather than guessed at.
    """
    if isinstance(address, str):
        try:
            parsed = _parse_ip_literal(address)
        except ValueError:
            parsed = None
        if parsed is None:
            return "not an IP address"
        address = parsed
    return _first_refused(_address_reasons(address), allow_private=allow_private)


def check_target_url(url: object, *, allow_private: bool, path: str = "$.target_url") -> str:
    """Return `url` stripped of surrounding whitespace, or raise `UnsafeTarget` saying why not.

    Runs at subscribe time and does no DNS: names are checked again, resolved, when the
    sender connects (`SafeResolver`). The host is read with yarl, the parser aiohttp sends
    with, so an odd spelling cannot mean one host here and another on the wire.
    """

    def refuse(message: str) -> ValidationError:
        return UnsafeTarget.at(path, message)

    if not isinstance(url, str):
        raise refuse("target URL must be a string")
    url = url.strip()
    if not url:
        raise refuse("target URL must not be empty")
    if len(url) > MAX_URL_LENGTH:
        raise refuse(f"target URL must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        raise refuse("target URL must not contain whitespace or control characters")
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        raise refuse("target URL is not a valid URL") from None
    port = _port_text(netloc)
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise refuse(f"target URL port {port!r} must be a number from 1 to 65535")
    try:
        parsed = yarl.URL(url)
    except ValueError:
        raise refuse("target URL is not a valid URL") from None

    if not parsed.scheme:
        raise refuse("target URL must be an absolute URL, like https://example.com/hook")
    schemes = ("https", "http") if allow_private else ("https",)
    if parsed.scheme not in schemes:
        raise refuse("target URL must use " + " or ".join(schemes))
    host = (parsed.raw_host or "").lower()
    if not host:
        raise refuse("target URL must have a host")
    if "@" in netloc or parsed.raw_user is not None or parsed.raw_password is not None:
        raise refuse("target URL must not contain credentials; use the auth option instead")

    try:
        ip = _parse_ip_literal(host)
    except ValueError:
        raise refuse(f"target URL host {host} is not a valid IP address") from None
    if ip is not None:
        reason = forbidden_reason(ip, allow_private=allow_private)
        shown = host if str(ip) == host else f"{host} (= {ip})"
        kind = "address"
    else:
        if not _HOST_NAME.fullmatch(host) or len(host) > 254:
            raise refuse(f"target URL host {host} is not a valid host name")
        reason = _first_refused(_name_reasons(host), allow_private=allow_private)
        shown, kind = host, "name"
    if reason is not None:
        article = "an" if reason[0] in "aeiou" else "a"
        raise refuse(f"target URL host {shown} is {article} {reason} {kind}")
    return url


def check_connect_host(host: str, *, allow_private: bool) -> None:
    """Raise `UnsafeAddressError` if `host` is an IP literal that must not be connected to.

    aiohttp 3.x connects to IP-literal hosts without asking its resolver, so `SafeResolver`
    never sees them; the sender calls this with every request's host (including each redirect
    hop it follows). Names pass here and are checked by `SafeResolver`. The host is first
    normalised the way yarl does for aiohttp, so `urlsplit(url).hostname` is fine too: 127.0.0.1
    spelled in full-width digits is checked as the 127.0.0.1 aiohttp would connect to.
    """
    refused = _connect_refusal(host, allow_private)
    if refused is not None:
        raise UnsafeAddressError(host, [refused])


def check_connect_scheme(scheme: str, *, allow_private: bool) -> str | None:
    """Why a request to a URL of `scheme` must not be sent now, or None.

    The subscribe-time rule again, at send time: a hook saved in development mode
    (`allow_private`) with an `http://` target must not go out in plain text after a restart
    in production mode. The sender records the reason as the attempt's error.
    """
    schemes = ("https", "http") if allow_private else ("https",)
    if scheme.lower() in schemes:
        return None
    return (
        f"not sent: {scheme}:// targets are refused outside development mode "
        "(HOOKKIT_ALLOW_PRIVATE_TARGETS is off); change the hook's URL to https://"
    )


@functools.lru_cache(maxsize=4096)
def _connect_refusal(host: str, allow_private: bool) -> tuple[str, str] | None:
    """Cached: a literal's verdict never changes, and the sender asks for every request."""
    try:
        wire_host = yarl.URL.build(scheme="http", host=host.strip("[]")).raw_host or ""
        ip = _parse_ip_literal(wire_host)
    except ValueError:
        return (host, "not a valid host")
    if ip is None:
        return None
    reason = forbidden_reason(ip, allow_private=allow_private)
    return None if reason is None else (str(ip), reason)


class SafeResolver(AbstractResolver):
    """An aiohttp resolver that drops every resolved address `forbidden_reason` refuses.

    Checking at connect time, on the addresses actually connected to, is what defeats DNS
    rebinding: a name that looked public when the hook was created can point at 127.0.0.1
    by delivery time. Use as `aiohttp.TCPConnector(resolver=SafeResolver(...))`, together
    with `check_connect_host` for IP-literal hosts.
    """

    def __init__(self, *, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        # Created on first use: ThreadedResolver needs a running event loop.
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve with the inner resolver and keep only the addresses that may be used."""
        if self._inner is None:
            self._inner = aiohttp.ThreadedResolver()
        results = await self._inner.resolve(host, port, family=family)
        allowed: list[ResolveResult] = []
        refused: list[tuple[str, str]] = []
        for result in results:
            reason = forbidden_reason(result["host"], allow_private=self._allow_private)
            if reason is None:
                allowed.append(result)
            else:
                refused.append((result["host"], reason))
        if refused and not allowed:
            raise UnsafeAddressError(host, refused)
        if refused:
            # A name with both public and internal addresses is misconfigured or an attack.
            logger.warning("dropped unsafe addresses resolved for %s: %s", host, refused)
        return allowed

    async def close(self) -> None:
        """Close the inner resolver, which this resolver owns."""
        if self._inner is not None:
            await self._inner.close()


def _first_refused(reasons: Iterable[str], *, allow_private: bool) -> str | None:
    """The first reason the mode does not relax; the one place development mode is decided."""
    for reason in reasons:
        if not (allow_private and reason in _DEVELOPMENT_ALLOWED):
            return reason
    return None


def _address_reasons(ip: IPAddress) -> Iterator[str]:
    """Every reason `ip` is off limits, most specific first; nothing for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ipaddress.IPv6Address(int(ip))  # the zone id does not change where it goes
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            yield from _address_reasons(embedded)
            if any(ip in net for net in (_IPV4_MAPPED, _NAT64, _SIXTOFOUR)):
                return
    for network, reason in _ADDRESS_TABLE:
        if ip in network:
            yield reason
            return
    # ipaddress knows the full IANA special-purpose registries; it just cannot be trusted
    # alone with addresses that embed IPv4, which are handled above.
    if ip.is_reserved:
        yield "reserved"
    elif not ip.is_global:
        yield "non-global"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address embeds (mapped, NAT64, 6to4, Teredo, ...), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client, where the traffic ends up
    if ip in _NAT64 or ip in _IPV4_TRANSLATED or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _name_reasons(name: str) -> Iterator[str]:
    """Every reason a host name is off limits, judged without DNS."""
    name = name.removesuffix(".")
    if name in _METADATA_NAMES:
        yield "cloud metadata"
    if name == "localhost" or name.endswith(".localhost"):
        yield "loopback"
    elif any(name == suffix or name.endswith("." + suffix) for suffix in _LOCAL_SUFFIXES):
        yield "local network"
    elif "." not in name:
        # Single labels resolve through the search domain: `metadata` is the metadata server
        # on GCP, `intranet` is whatever the local network says.
        yield "single-label"


def _parse_ip_literal(host: str) -> IPAddress | None:
    """Parse `host` as an IP address in any spelling, None if it is a name.

    IPv4 follows the WHATWG URL rule, which matches libc's inet_aton: a host whose last label
    is a number is an address of one to four decimal, octal (`0177`) or hex (`0x7f`) parts,
    the last part filling the remaining bytes (`127.1`, `2130706433`). Raises ValueError for
    a host that is number-shaped but no valid address, such as `1.2.3.256`.
    """
    if ":" in host:
        # URLs percent-encode the zone id separator (RFC 6874): fe80::1%25eth0.
        return ipaddress.IPv6Address(host.strip("[]").replace("%25", "%", 1))
    labels = host.removesuffix(".").split(".")
    if not _IPV4_PART.fullmatch(labels[-1]):
        return None
    if len(labels) > 4:
        raise ValueError(f"too many parts in IPv4 address {host!r}")
    numbers = [_ipv4_part(label) for label in labels]
    *leading, last = numbers
    if any(number > 0xFF for number in leading) or last >= 1 << (8 * (5 - len(numbers))):
        raise ValueError(f"IPv4 address {host!r} out of range")
    value = last
    for index, number in enumerate(leading):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ipv4_part(label: str) -> int:
    if not _IPV4_PART.fullmatch(label):
        raise ValueError(f"not a number: {label!r}")
    lowered = label.lower()
    if lowered.startswith("0x"):
        return int(lowered[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label)


def _port_text(netloc: str) -> str:
    """The port exactly as written: yarl accepts `+443` and `4_43` because int() does."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        hostport = hostport.partition("]")[2]
    return hostport.partition(":")[2]


def host_key(url: str) -> str:
    """`host:port` of a target URL: what per-host concurrency limits count.

    Two receivers on one machine but different ports are different servers (aiohttp pools
    connections per host and port too), so a dead one must not use up the other's slots.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
