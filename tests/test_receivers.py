"""The receiver side: every verification snippet of docs/verifying.md, run on real deliveries of
each body shape, and the Flask `@verified` decorator serving real HTTP."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from connector.testing import Receiver

from .conftest import deliveries_of, publish, subscribe, wait_until

VERIFYING = Path(__file__).resolve().parent.parent / "docs" / "verifying.md"
SHAPES = {"json": {}, "form": {"content_type": "form"}, "get": {"method": "GET"}}


def snippet(name: str) -> str:
    """The Python block under `<!-- verify:NAME -->` in docs/verifying.md."""
    found = re.search(rf"<!-- verify:{name} -->\n```python\n(.*?)```", VERIFYING.read_text(), re.S)
    assert found, f"docs/verifying.md has no verify:{name} snippet"
    return found.group(1)


def delivered(client, auth, shape: str) -> tuple[bytes, dict[str, str], str]:
    """One real delivery of `shape`: the payload as signed, its headers, the hook's secret."""
    with Receiver() as receiver:
        hook = subscribe(client, auth, receiver.url, **SHAPES[shape])
        publish(client, auth)
        (request,) = wait_until(lambda: receiver.requests)
    payload = request.query.encode() if shape == "get" else request.body
    return payload, dict(request.headers), hook["secret"]


@pytest.mark.parametrize("library", ["hookkit", "standardwebhooks", "svix"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_readme_snippets_verify_every_body_shape(client, auth, library, shape):
    """Each documented call accepts real JSON, form and GET deliveries and refuses tampering."""
    payload, headers, secret = delivered(client, auth, shape)
    code = snippet(library)
    exec(code, {"payload": payload, "headers": headers, "secret": secret})
    tampered = payload.replace(b"abc123xyz", b"abc123xyZ")
    assert tampered != payload
    with pytest.raises(Exception, match=r"(?i)signature|match"):
        exec(code, {"payload": tampered, "headers": headers, "secret": secret})


@pytest.fixture
def flask_receiver() -> Iterator[tuple[str, Any, list[str]]]:
    """The documented Flask receiver, served over real HTTP on 127.0.0.1."""
    namespace: dict[str, Any] = {"secret": "", "__name__": "__main__"}
    exec(snippet("flask"), namespace)
    app = namespace["app"]
    seen: list[str] = []

    @app.after_request
    def remember(response: Any) -> Any:
        seen.append(str(response.status_code))
        return response

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", namespace, seen
    finally:
        server.shutdown()


def test_flask_decorator_accepts_deliveries_and_refuses_forgeries(client, auth, flask_receiver):
    """`@verified` lets signed deliveries through (204) and answers 401 to a forged one."""
    url, namespace, seen = flask_receiver
    hook = subscribe(client, auth, url)
    namespace["secret"] = hook["secret"]
    publish(client, auth)
    log = wait_until(
        lambda: [
            d
            for d in deliveries_of(client, auth, hook["id"])["deliveries"]
            if d["status"] == "delivered"
        ]
    )
    assert log[0]["attempts"][-1]["response_code"] == 204
    forged = requests.post(
        url,
        data=b'{"id": "evt_x"}',
        headers={
            "Content-Type": "application/json",
            "webhook-id": "msg_x",
            "webhook-timestamp": "1700000000",
            "webhook-signature": "v1,AAAA",
        },
        timeout=5,
    )
    assert forged.status_code == 401
    assert seen == ["204", "401"]
