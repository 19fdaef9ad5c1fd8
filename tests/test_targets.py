"""Target URL safety: subscribe-time URL checks and the connect-time resolver (SSRF).

The only real network traffic here goes to a receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from connector.errors import FieldError, UnsafeTarget
from connector.wire.targets import (
    SafeResolver,
    UnsafeAddressError,
    check_connect_host,
    check_target_url,
    forbidden_reason,
)

OK = None  # an accepted URL or address in the tables below

# (url, refusal in production, refusal in development): a refusal is a fragment of the
# message the user sees, OK means the URL is accepted unchanged (stripped of whitespace).
URL_CASES = [
    # Public https targets.
    ("https://hooks.zapier.com/hooks/catch/123/abc/", OK, OK),
    ("https://hook.eu1.make.com/abc", OK, OK),
    ("https://93.184.215.14/x", OK, OK),
    ("https://[2606:4700::1]/", OK, OK),
    ("https://example.com:8443/hook?x=1#frag", OK, OK),
    ("HTTPS://Example.COM/hook", OK, OK),
    ("https://bücher.de/webhook", OK, OK),
    ("https://[::ffff:93.184.215.14]/", OK, OK),
    ("https://[64:ff9b::5db8:d70e]/", OK, OK),
    # What development mode relaxes.
    ("http://example.com/hook", "target URL must use https", OK),
    ("https://localhost/", "host localhost is a loopback name", OK),
    ("http://LOCALHOST.:8000/", "must use https", OK),
    ("https://api.localhost/", "host api.localhost is a loopback name", OK),
    ("https://printer.local/", "host printer.local is a local network name", OK),
    ("https://db.internal/", "is a local network name", OK),
    ("https://router.home.arpa/", "is a local network name", OK),
    ("https://hookbox/", "host hookbox is a single-label name", OK),
    ("https://wiki.intranet/", "is a local network name", OK),
    ("https://127.0.0.1/", "127.0.0.1 is a loopback address", OK),
    ("https://127.1/", "host 127.1 (= 127.0.0.1) is a loopback address", OK),
    ("https://2130706433/", "(= 127.0.0.1) is a loopback address", OK),
    ("https://0177.0.0.1/", "(= 127.0.0.1) is a loopback address", OK),
    ("https://0x7f.0.0.1/", "(= 127.0.0.1) is a loopback address", OK),
    ("https://0x7F.00.0.01/", "(= 127.0.0.1) is a loopback address", OK),
    ("https://127.0.0.1./", "(= 127.0.0.1) is a loopback address", OK),
    (
        "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",
        "host 127.0.0.1 is a loopback address",
        OK,
    ),
    ("https://[::1]:8443/", "host ::1 is a loopback address", OK),
    ("https://[::ffff:127.0.0.1]/", "is a loopback address", OK),
    ("https://10.0.0.5/", "target URL host 10.0.0.5 is a private address", OK),
    ("https://172.16.0.1/", "is a private address", OK),
    ("https://192.168.1.1/", "is a private address", OK),
    ("https://[fd12:3456::1]/", "is a private address", OK),
    ("https://[::ffff:10.0.0.5]/", "is a private address", OK),
    ("https://100.64.0.1/", "is a carrier-grade NAT address", OK),
    ("https://169.254.1.1/", "is a link-local address", OK),
    ("https://[fe80::1%25eth0]/", "fe80::1%25eth0 (= fe80::1%eth0) is a link-local", OK),
    # Cloud metadata, in every spelling, refused even in development.
    ("https://169.254.169.254/latest/meta-data/", "is a cloud metadata address", "metadata"),
    ("http://169.254.169.254/", "must use https", "is a cloud metadata address"),
    ("https://0xa9fea9fe/", "(= 169.254.169.254) is a cloud metadata", "cloud metadata"),
    ("https://2852039166/", "(= 169.254.169.254) is a cloud metadata", "cloud metadata"),
    ("https://0251.0376.0251.0376/", "is a cloud metadata address", "cloud metadata"),
    ("https://169.254.43518/", "(= 169.254.169.254) is a cloud metadata", "cloud metadata"),
    ("https://[fd00:ec2::254]/", "is a cloud metadata address", "cloud metadata"),
    ("https://100.100.100.200/", "is a cloud metadata address", "cloud metadata"),
    ("https://[::ffff:169.254.169.254]/", "is a cloud metadata address", "cloud metadata"),
    ("https://[64:ff9b::a9fe:a9fe]/", "is a cloud metadata address", "cloud metadata"),
    ("https://[2002:a9fe:a9fe::]/", "is a cloud metadata address", "cloud metadata"),
    ("https://metadata.google.internal/v1/", "is a cloud metadata name", "cloud metadata"),
    ("https://metadata/", "host metadata is a cloud metadata name", "cloud metadata name"),
    # Never a delivery target.
    ("https://0.0.0.0/", "is an unspecified address", "is an unspecified address"),
    ("https://[::]/", "is an unspecified address", "unspecified"),
    ("https://0.1.2.3/", "is a this-network address", "this-network"),
    ("https://224.0.0.1/", "is a multicast address", "multicast"),
    ("https://[ff02::1]/", "is a multicast address", "multicast"),
    ("https://255.255.255.255/", "is a broadcast address", "broadcast"),
    ("https://240.0.0.1/", "is a reserved address", "reserved"),
    ("https://198.18.0.1/", "is a benchmarking address", "benchmarking"),
    ("https://192.0.2.10/", "is a documentation address", "documentation"),
    ("https://[2001:db8::1]/", "is a documentation address", "documentation"),
    ("https://[::127.0.0.1]/", "is a loopback address", "is a reserved address"),
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "is a loopback address", "Teredo"),
    ("https://[2002:7f00:1::]/", "is a loopback address", OK),
    # Malformed or carrying what belongs elsewhere.
    ("ftp://example.com/", "target URL must use https", "must use https or http"),
    ("javascript:alert(1)", "must use https", "must use https or http"),
    ("https://user:pass@example.com/", "must not contain credentials", "credentials"),
    ("https://user@example.com/", "must not contain credentials", "credentials"),
    ("https://127.0.0.1:443@example.com/", "must not contain credentials", "credentials"),
    ("https://example.com:0/", "port '0' must be a number from 1 to 65535", "port"),
    ("https://example.com:65536/", "port", "port"),
    ("https://example.com:abc/", "port", "port"),
    ("https://example.com:+443/", "port '+443' must be a number", "port"),
    ("/hooks/1", "must be an absolute URL", "absolute"),
    ("//example.com/hook", "must be an absolute URL", "absolute"),
    ("https:///hook", "must have a host", "must have a host"),
    ("https://1.2.3.256/", "host 1.2.3.256 is not a valid IP address", "not a valid IP"),
    ("https://example.0x1/", "is not a valid IP address", "not a valid IP"),
    ("https://%31%32%37.0.0.1/", "is not a valid IP address", "not a valid IP"),
    ("https://exa_mple-.com/", "is not a valid host name", "not a valid host name"),
    ("https://evil.com\\@127.0.0.1/", "is not a valid URL", "is not a valid URL"),
    ("https://exa mple.com/", "must not contain whitespace", "whitespace"),
    ("https://example.com/\nHost: internal", "control characters", "control characters"),
    ("https://example.com/\u200b", "control characters", "control characters"),
    ("", "must not be empty", "must not be empty"),
    ("   ", "must not be empty", "must not be empty"),
    ("https://example.com/" + "a" * 2030, "at most 2048 characters", "2048"),
    (None, "target URL must be a string", "must be a string"),
    (42, "must be a string", "must be a string"),
    (b"https://example.com/", "must be a string", "must be a string"),
]


def _cases(mode: int) -> list[object]:
    return [pytest.param(case[0], case[mode], id=repr(case[0])[:60]) for case in URL_CASES]


def _assert_policy(url: object, refusal: str | None, *, allow_private: bool) -> None:
    if refusal is OK:
        assert isinstance(url, str)
        assert check_target_url(url, allow_private=allow_private) == url.strip()
        return
    with pytest.raises(UnsafeTarget) as caught:
        check_target_url(url, allow_private=allow_private)
    error = caught.value
    assert refusal in error.detail
    assert error.status == 422
    assert error.code == "unsafe_target_url"
    assert error.errors == [FieldError("$.target_url", error.detail)]


@pytest.mark.parametrize(("url", "refusal"), _cases(1))
def test_production_target_policy(url: object, refusal: str | None) -> None:
    """In production only https URLs to public hosts are accepted, each refusal saying why."""
    _assert_policy(url, refusal, allow_private=False)


@pytest.mark.parametrize(("url", "refusal"), _cases(2))
def test_development_target_policy(url: object, refusal: str | None) -> None:
    """Development mode also accepts http and local hosts, but never cloud metadata."""
    _assert_policy(url, refusal, allow_private=True)


def test_url_is_returned_stripped() -> None:
    """Surrounding whitespace is dropped and nothing else about the URL changes."""
    url = "  https://Example.com/Hook?b=2&a=1#x \n"
    assert check_target_url(url, allow_private=False) == "https://Example.com/Hook?b=2&a=1#x"


def test_refusal_names_the_field() -> None:
    """The refusal points at the path it was given, so a client can show it by the field."""
    with pytest.raises(UnsafeTarget) as caught:
        check_target_url("https://10.0.0.5/", allow_private=False, path="$.hooks[2].url")
    assert caught.value.errors == [
        FieldError("$.hooks[2].url", "target URL host 10.0.0.5 is a private address")
    ]


# (address, reason in production, reason in development)
ADDRESS_CASES = [
    ("93.184.215.14", OK, OK),
    ("2606:4700::1", OK, OK),
    ("::ffff:93.184.215.14", OK, OK),
    ("64:ff9b::5db8:d70e", OK, OK),
    ("2002:5db8:d70e::1", OK, OK),
    ("127.0.0.1", "loopback", OK),
    ("::1", "loopback", OK),
    ("0x7f.1", "loopback", OK),
    ("10.1.2.3", "private", OK),
    ("fd12::1", "private", OK),
    ("100.64.0.1", "carrier-grade NAT", OK),
    ("fe80::1%eth0", "link-local", OK),
    ("169.254.169.254", "cloud metadata", "cloud metadata"),
    ("169.254.170.2", "cloud metadata", "cloud metadata"),
    ("100.100.100.200", "cloud metadata", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata", "cloud metadata"),
    ("::ffff:a9fe:a9fe", "cloud metadata", "cloud metadata"),
    ("64:ff9b::169.254.169.254", "cloud metadata", "cloud metadata"),
    ("2002:a9fe:a9fe::", "cloud metadata", "cloud metadata"),
    ("::ffff:0:a9fe:a9fe", "cloud metadata", "cloud metadata"),
    ("0.0.0.0", "unspecified", "unspecified"),
    ("::", "unspecified", "unspecified"),
    ("0.0.0.7", "this-network", "this-network"),
    ("239.255.255.250", "multicast", "multicast"),
    ("ff0e::1", "multicast", "multicast"),
    ("255.255.255.255", "broadcast", "broadcast"),
    ("198.19.255.255", "benchmarking", "benchmarking"),
    ("203.0.113.9", "documentation", "documentation"),
    ("3fff::1", "documentation", "documentation"),
    ("fec0::1", "site-local", "site-local"),
    ("::ffff:0:7f00:1", "loopback", "reserved"),
    ("2001:0:4136:e378:8000:63bf:a247:28f1", "Teredo", "Teredo"),
    ("64:ff9b:1::1", "reserved", "reserved"),
    ("2001:10::1", "non-global", "non-global"),
    ("example.com", "not an IP address", "not an IP address"),
]


@pytest.mark.parametrize(("address", "production", "development"), ADDRESS_CASES)
def test_forbidden_reason(address: str, production: str | None, development: str | None) -> None:
    """Each address gets the short reason both checks report, or None if it is public."""
    assert forbidden_reason(address, allow_private=False) == production
    assert forbidden_reason(address, allow_private=True) == development


def test_forbidden_reason_takes_address_objects() -> None:
    """Parsed addresses are judged like their string spelling."""
    assert forbidden_reason(ipaddress.ip_address("10.0.0.1"), allow_private=False) == "private"
    assert forbidden_reason(ipaddress.ip_address("2606:4700::1"), allow_private=False) is None


class FakeResolver(AbstractResolver):
    """Answers every name with fixed addresses, so no test needs DNS."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.calls: list[str] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        self.closed = True


def _resolve(resolver: AbstractResolver, host: str) -> list[str]:
    async def run() -> list[str]:
        return [result["host"] for result in await resolver.resolve(host, 443)]

    return asyncio.run(run())


def test_resolver_keeps_only_public_addresses() -> None:
    """A name with public and internal addresses connects only to the public ones."""
    inner = FakeResolver("10.0.0.1", "93.184.215.14", "::1", "2606:4700::1")
    resolver = SafeResolver(allow_private=False, inner=inner)
    assert _resolve(resolver, "mixed.test") == ["93.184.215.14", "2606:4700::1"]
    assert inner.calls == ["mixed.test"]


def test_resolver_refuses_a_name_with_only_internal_addresses() -> None:
    """A name that resolves only to internal addresses fails with every refused address."""
    resolver = SafeResolver(allow_private=False, inner=FakeResolver("127.0.0.1", "10.0.0.5"))
    with pytest.raises(UnsafeAddressError) as caught:
        _resolve(resolver, "example.test")
    assert str(caught.value) == (
        "refusing to connect to 127.0.0.1 (loopback), 10.0.0.5 (private) resolved for example.test"
    )
    assert caught.value.host == "example.test"
    assert caught.value.refused == (("127.0.0.1", "loopback"), ("10.0.0.5", "private"))


def test_development_resolver_still_refuses_metadata() -> None:
    """Development mode lets private addresses through but not a rebinding to metadata."""
    inner = FakeResolver("192.168.1.20", "169.254.169.254", "::ffff:169.254.169.254")
    resolver = SafeResolver(allow_private=True, inner=inner)
    assert _resolve(resolver, "dev.test") == ["192.168.1.20"]
    resolver = SafeResolver(allow_private=True, inner=FakeResolver("169.254.169.254"))
    with pytest.raises(UnsafeAddressError, match=r"169\.254\.169\.254 \(cloud metadata\)"):
        _resolve(resolver, "rebind.test")


def test_resolver_close_closes_inner() -> None:
    """Closing the resolver releases the inner resolver it wraps."""
    inner = FakeResolver("93.184.215.14")
    asyncio.run(SafeResolver(allow_private=False, inner=inner).close())
    assert inner.closed


def test_default_resolver_can_be_built_outside_an_event_loop() -> None:
    """The default threaded resolver is created on first use, inside the running loop."""
    resolver = SafeResolver(allow_private=True)
    assert "127.0.0.1" in _resolve(resolver, "localhost")
    asyncio.run(resolver.close())


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("127.0.0.1", "refusing to connect to 127.0.0.1 (loopback)"),
        ("::1", "refusing to connect to ::1 (loopback)"),
        ("fe80::1%25eth0", "to fe80::1%eth0 (link-local) resolved for fe80::1%25eth0"),
        ("169.254.169.254", "refusing to connect to 169.254.169.254 (cloud metadata)"),
        ("0x7f.1", "refusing to connect to 127.0.0.1 (loopback) resolved for 0x7f.1"),
        ("[::1]", "refusing to connect to ::1 (loopback) resolved for [::1]"),
        (
            "\uff11\uff12\uff17.0.0.1",
            "to 127.0.0.1 (loopback) resolved for \uff11\uff12\uff17.0.0.1",
        ),
        ("1.2.3.256", "refusing to connect to 1.2.3.256 (not a valid host)"),
        ("exa mple", "refusing to connect to exa mple (not a valid host)"),
    ],
)
def test_check_connect_host_refuses_internal_literals(host: str, message: str) -> None:
    """Internal IP literals, which aiohttp never resolves, and unusable hosts are refused."""
    with pytest.raises(UnsafeAddressError) as caught:
        check_connect_host(host, allow_private=False)
    assert str(caught.value).endswith(message)


@pytest.mark.parametrize("host", ["93.184.215.14", "2606:4700::1", "example.com", "localhost"])
def test_check_connect_host_passes_public_literals_and_names(host: str) -> None:
    """Public literals pass, and names are left to the resolver."""
    assert check_connect_host(host, allow_private=False) is None


def test_check_connect_host_in_development() -> None:
    """Development mode allows a loopback literal but not a metadata one."""
    assert check_connect_host("127.0.0.1", allow_private=True) is None
    with pytest.raises(UnsafeAddressError, match="cloud metadata"):
        check_connect_host("169.254.169.254", allow_private=True)


class _Receiver(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        body = b"received"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver_port() -> Iterator[int]:
    """A real HTTP receiver on 127.0.0.1 only, in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


async def _get(url: str, resolver: AbstractResolver) -> tuple[int, bytes]:
    connector = aiohttp.TCPConnector(resolver=resolver)
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.get(url) as response,
        ):
            return response.status, await response.read()
    finally:
        await resolver.close()


def _exception_chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def test_production_connector_refuses_localhost(receiver_port: int) -> None:
    """A real request to localhost fails as a connection error caused by the refusal."""
    url = f"http://localhost:{receiver_port}/"
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        asyncio.run(_get(url, SafeResolver(allow_private=False)))
    refusals = [e for e in _exception_chain(caught.value) if isinstance(e, UnsafeAddressError)]
    assert len(refusals) == 1
    assert "refusing to connect to 127.0.0.1 (loopback) resolved for localhost" in str(refusals[0])


def test_development_connector_reaches_localhost(receiver_port: int) -> None:
    """In development mode the same request reaches the local receiver."""
    url = f"http://localhost:{receiver_port}/"
    assert asyncio.run(_get(url, SafeResolver(allow_private=True))) == (200, b"received")


def test_aiohttp_skips_the_resolver_for_ip_literals(receiver_port: int) -> None:
    """aiohttp connects to an IP literal without asking the resolver: why check_connect_host exists.

    If aiohttp ever starts resolving literals this fails, and check_connect_host becomes a
    second line of defence rather than the only one.
    """
    inner = FakeResolver("127.0.0.1")
    url = f"http://127.0.0.1:{receiver_port}/"
    status = asyncio.run(_get(url, SafeResolver(allow_private=False, inner=inner)))
    assert status == (200, b"received")
    assert inner.calls == []
    with pytest.raises(UnsafeAddressError):
        check_connect_host("127.0.0.1", allow_private=False)
