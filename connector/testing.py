"""Test doubles users can reuse: a real HTTP receiver that records what it is sent.

`Receiver` is a threaded stdlib HTTP server on 127.0.0.1 (a real socket, real HTTP) whose
answers are scripted per request: a status, a delay, a hang, a redirect or a dropped
connection. hookkit's own tests use it; so can anyone testing their integration.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def query_params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


@dataclass
class Reply:
    """How to answer one request."""

    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering; a long delay is a hanging receiver
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, reset) is expected in tests, not worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Receiver:
    """Use as a context manager; `url` is where to send, `requests` what arrived."""

    def __init__(
        self, replies: Callable[[Recorded], Reply] | list[Reply] | None = None, *, port: int = 0
    ) -> None:
        self.requests: list[Recorded] = []
        self._replies = replies
        self._lock = threading.Condition()
        self._server = _QuietServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        # A short poll interval makes close() quick (the default waits up to 0.5 s).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply_with(self, replies: Callable[[Recorded], Reply] | list[Reply] | None) -> None:
        self._replies = replies

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        """Block until `count` requests arrived; AssertionError with what did after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
                self._lock.wait(left)
            return list(self.requests)

    def _next_reply(self, recorded: Recorded, index: int) -> Reply:
        replies = self._replies
        if replies is None:
            return Reply()
        if callable(replies):
            return replies(recorded)
        return replies[min(index, len(replies) - 1)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else every response stalls ~40 ms

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    self.command, parts.path, parts.query, dict(self.headers), body, time.time()
                )
                with receiver._lock:
                    index = len(receiver.requests)
                    receiver.requests.append(recorded)
                    receiver._lock.notify_all()
                reply = receiver._next_reply(recorded, index)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        return Handler
