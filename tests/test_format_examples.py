"""The ready configurations in examples/ and the receiver snippets of docs/formats.md, run for
real: each env file loaded by a shell into `Settings.from_env`, each subscribe.sh run with
curl against a live hookkit, each snippet verifying real deliveries and refusing tampering."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from connector import verify
from connector.config import Settings
from connector.testing import Receiver, Recorded

from .conftest import _key, hermetic_env, publish, shipped_catalog, subscribe
from .live import served

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FORMATS = ROOT / "docs" / "formats.md"
CATALOG = shipped_catalog()
OWN_SECRET = "our-campaign-tool-secret-0042"


def snippet(name: str) -> dict[str, Any]:
    """The namespace of the Python block under `<!-- verify:NAME -->` in docs/formats.md."""
    found = re.search(rf"<!-- verify:{name} -->\n```python\n(.*?)```", FORMATS.read_text(), re.S)
    assert found, f"docs/formats.md has no verify:{name} snippet"
    namespace: dict[str, Any] = {}
    exec(found.group(1), namespace)
    return namespace


def load_env(path: Path) -> dict[str, str]:
    """The HOOKKIT_* variables a shell exports after `set -a; . hookkit.env`."""
    done = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; env -0', "bash", str(path)],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        check=True,
    )
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return {name: value for name, value in pairs if name.startswith("HOOKKIT_")}


def overrides(settings: Settings, env: dict[str, str]) -> dict[str, Any]:
    """The settings an env file sets, as `make_app` keywords."""
    return {
        spec.name: getattr(settings, spec.name)
        for spec in fields(Settings)
        if spec.metadata["env"] in env
    }


def run_subscribe(folder: Path, base_url: str, key: str, target: str) -> Any:
    """`subscribe.sh` as a user runs it; the hook it printed."""
    import json

    env = hermetic_env(HOOKKIT_URL=base_url, KEY=key, TARGET_URL=target, WEBHOOK_SECRET=OWN_SECRET)
    done = subprocess.run(
        ["bash", str(folder / "subscribe.sh")], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- what each style's receiver checks -------------------------------------------------------


def image_renderer(request: Recorded, hook: dict[str, Any]) -> None:
    header = request.header("X-Pictify-Signature")
    snippet("timestamped-hex")["verify_timestamped_hex"](request.body, header, hook["secret"])
    body = request.json()
    assert sorted(body) == ["data", "event", "timestamp"] and body["event"] == "render.completed"
    assert body["data"] == CATALOG.get("render.completed").sample


def photo_booth(request: Recorded, hook: dict[str, Any]) -> None:
    snippet("hex")["verify_hex"](request.body, request.header("X-Signature"), hook["secret"])
    assert request.json() == {"type": "session", **CATALOG.get("session").sample}
    assert hook["retry_schedule"] is None  # the deployment's: 10s,10s,10s from the env file


def event_workflow(request: Recorded, hook: dict[str, Any]) -> None:
    assert request.method == "GET" and request.body == b""
    params = request.query_params()
    assert params["type"] == "survey" and params["data.session.id"] == "abc123xyz"
    assert params["campaign"] == "Summer Launch" and params["tag"] == "booth-1"
    assert request.header("Authorization") == "Bearer 12345"
    assert request.header("webhook-signature") is None and request.header("X-Signature") is None
    assert hook["retry_schedule"] == "none" and hook["success"] == "2xx-3xx"


def campaigns(request: Recorded, hook: dict[str, Any]) -> None:
    assert hook["secret"] == OWN_SECRET and hook["log_response_body"] is True
    verify(request.body, request.headers, OWN_SECRET)
    assert request.form() == {
        "email": "guest@example.com",
        "session": "abc123xyz",
        "campaign_name": "Summer Promotion",
        "source": "webhook",
    }
    basic = base64.b64encode(b"campaigns:change-me").decode()
    assert request.header("Authorization") == f"Basic {basic}"


STYLES: dict[str, tuple[str, Callable[[Recorded, dict[str, Any]], None], dict[str, str]]] = {
    "image-renderer": (
        "render.completed",
        image_renderer,
        {"signature_scheme": "timestamped-hex", "signature_header": "X-Pictify-Signature"},
    ),
    "photo-booth": ("session", photo_booth, {"signature_scheme": "hex"}),
    "event-workflow": ("survey", event_workflow, {"signature_scheme": "none"}),
    "campaigns": ("share", campaigns, {"signature_scheme": "standard-webhooks"}),
}


def test_every_example_folder_is_tested():
    """Each folder of examples/ has its env file, subscribe script and README, and a test."""
    folders = sorted(path.name for path in EXAMPLES.iterdir() if path.is_dir())
    assert folders == sorted(STYLES)
    for name in folders:
        for part in ("hookkit.env", "subscribe.sh", "subscribe.json", "README.md"):
            assert (EXAMPLES / name / part).is_file(), f"examples/{name}/{part}"
        assert os.access(EXAMPLES / name / "subscribe.sh", os.X_OK)
        assert f"examples/{name}" in FORMATS.read_text()


@pytest.mark.parametrize("style", sorted(STYLES))
def test_an_example_configuration_delivers_in_its_style(make_app, style):
    """The env file configures a live hookkit, subscribe.sh subscribes with curl, and a
    published event reaches the receiver in that style."""
    folder = EXAMPLES / style
    event_type, check, expected_hook = STYLES[style]
    env = load_env(folder / "hookkit.env")
    settings = Settings.from_env(env)  # a bad line fails here, naming its variable
    for name, value in expected_hook.items():
        assert getattr(settings, name) == value
    app = make_app(**{**overrides(settings, env), "smtp_url": ""})  # no mail relay in tests
    key = _key(app, "acme")["Authorization"].removeprefix("Bearer ")
    client, auth = app.test_client(), {"Authorization": f"Bearer {key}"}
    with served(app) as base_url, Receiver() as receiver:
        hook = run_subscribe(folder, base_url, key, receiver.url + "/hook")
        assert hook["target_url"] == receiver.url + "/hook", hook
        if hook["signature"]["scheme"] != "none":
            assert hook["signature"]["scheme"] == expected_hook["signature_scheme"]
        publish(client, auth, CATALOG.get(event_type).sample, type=event_type)
        (request,) = receiver.wait_for(1)
    assert request.path == "/hook"
    check(request, hook)


def test_the_example_settings_are_those_the_styles_document():
    """The photo booth retries 3 times 10 s apart without jitter; the event workflow does not
    retry nor disable hooks; envelopes are the documented ones."""
    booth = Settings.from_env(load_env(EXAMPLES / "photo-booth" / "hookkit.env"))
    assert booth.retry_schedule == (10.0, 10.0, 10.0) and booth.retry_jitter == 0
    assert booth.envelope == "merge({type: type}, data)"
    workflow = Settings.from_env(load_env(EXAMPLES / "event-workflow" / "hookkit.env"))
    assert workflow.retry_schedule == () and workflow.failure_threshold == 0
    renderer = Settings.from_env(load_env(EXAMPLES / "image-renderer" / "hookkit.env"))
    assert renderer.envelope == "{event: type, timestamp: timestamp, data: data}"


def test_subscribe_json_posted_without_the_script_refuses_the_placeholder_secret(client, auth):
    """The campaigns body's secret placeholder is too short to be taken for a real secret."""
    import json

    body = json.loads((EXAMPLES / "campaigns" / "subscribe.json").read_text())
    answer = client.post(
        "/v1/hooks", json={**body, "target_url": "http://127.0.0.1:9/x"}, headers=auth
    )
    assert answer.status_code == 422 and answer.json["errors"][0]["path"] == "$.secret"


# -- docs/formats.md receiver snippets -------------------------------------------------------

SHAPES = {"json": {}, "form": {"content_type": "form"}, "get": {"method": "GET"}}


def received(client: Any, auth: dict[str, str], scheme: str, shape: str) -> tuple[bytes, Any, Any]:
    """One real delivery of `shape` signed with `scheme`: payload as signed, request, hook."""
    with Receiver() as receiver:
        hook = subscribe(client, auth, receiver.url, signature={"scheme": scheme}, **SHAPES[shape])
        publish(client, auth)
        (request,) = receiver.wait_for(1)
    payload = request.query.encode() if shape == "get" else request.body
    return payload, request, hook


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("scheme", ["timestamped-hex", "hex", "ed25519"])
def test_format_snippets_verify_real_deliveries_and_refuse_tampering(client, auth, scheme, shape):
    """Each docs/formats.md function accepts a real JSON, form and GET delivery and raises
    ValueError on a tampered payload or the wrong key."""
    payload, request, hook = received(client, auth, scheme, shape)
    tampered = payload.replace(b"abc123xyz", b"abc123xyZ")
    assert tampered != payload
    if scheme == "ed25519":
        check = snippet("ed25519")["verify_ed25519"]
        check(payload, request.headers, hook["public_key"])
        with pytest.raises(ValueError, match="no matching signature"):
            check(tampered, request.headers, hook["public_key"])
        return
    name = scheme.replace("-", "_")
    check = snippet(scheme)[f"verify_{name}"]
    header = request.header("X-Signature")
    check(payload, header, hook["secret"])
    for wrong_payload, wrong_secret in ((tampered, hook["secret"]), (payload, OWN_SECRET)):
        with pytest.raises(ValueError):
            check(wrong_payload, header, wrong_secret)


def test_the_timestamped_hex_snippet_refuses_old_timestamps_and_takes_any_v1(client, auth):
    """A timestamp beyond the tolerance fails; during a rotation either secret verifies."""
    check = snippet("timestamped-hex")["verify_timestamped_hex"]
    with Receiver() as receiver:
        hook = subscribe(client, auth, receiver.url, signature={"scheme": "timestamped-hex"})
        new = client.post(f"/v1/hooks/{hook['id']}/rotate-secret", headers=auth).json["secret"]
        publish(client, auth)
        (request,) = receiver.wait_for(1)
    header = request.header("X-Signature")
    check(request.body, header, new)
    check(request.body, header, hook["secret"])
    with pytest.raises(ValueError, match="tolerance"):
        check(request.body, header, new, tolerance=-1)
    with pytest.raises(ValueError, match="no timestamp"):
        check(request.body, header.split(",", 1)[1], new)
