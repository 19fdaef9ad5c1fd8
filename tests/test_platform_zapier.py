"""The Zapier app `export zapier` writes, run by Zapier's own npm packages against a live
hookkit: `zapier-platform-core`'s createAppTester on Node 20 drives authentication and the
REST-hook triggers, and `zapier-platform validate --without-style` (Node 22) checks its
structure offline. The packages are pinned in tests/node/zapier (scripts/test installs them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from connector import verify
from connector.catalog import Catalog, EventType
from connector.platforms.context import GENERATED_BY
from connector.platforms.export import export
from connector.platforms.zapier import CORE_VERSION, trigger_definitions, trigger_key
from connector.testing import Receiver, Reply

from .conftest import SESSION, caught_up, publish, shipped_catalog, wait_until
from .live import served

NODE_DIR = Path(__file__).resolve().parent / "node" / "zapier"
TRIGGER = "triggers.session.operation"

# Runs what Zapier would run, in order: `node zap.js CALLS.json OUT.json` writes one outcome
# per call to OUT.json (core prints its own diagnostics on stdout).
DRIVER = """\
'use strict';
const fs = require('fs');
const zapier = require('zapier-platform-core');
const App = require('./index');

const appTester = zapier.createAppTester(App);
const find = (dotted) => dotted.split('.').reduce((node, key) => node[key], App);

const run = async (call) => {
  try {
    if (call.command) {  // 'definition': the app as Zapier serialises it
      const handler = zapier.createAppHandler(App);
      return { ok: true, results: (await handler({ command: call.command })).results };
    }
    return { ok: true, results: await appTester(find(call.method), call.bundle) };
  } catch (error) {
    return { ok: false, error: String(error && error.message) };
  }
};

(async () => {
  const outcomes = [];
  for (const call of JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))) {
    outcomes.push(await run(call));
  }
  fs.writeFileSync(process.argv[3], JSON.stringify(outcomes));
})();
"""


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """tests/node/zapier/node_modules, installed by scripts/test (or `npm ci` there)."""
    found = NODE_DIR / "node_modules"
    if shutil.which("node") is None or not (found / "zapier-platform-core").is_dir():
        pytest.fail("the Zapier tests need Node 20 and `npm ci` in tests/node/zapier")
    return found


def exported(tmp_path: Path, node_modules: Path, base_url: str) -> Path:
    """The app exported for `base_url` into tmp_path/app, with the pinned node_modules."""
    outdir = tmp_path / "app"
    export("zapier", outdir, shipped_catalog(), base_url=base_url, name="Acme Booth")
    (outdir / "node_modules").symlink_to(node_modules, target_is_directory=True)
    (outdir / "zap.js").write_text(DRIVER, encoding="utf-8")
    return outdir


def drive(app_dir: Path, calls: list[dict[str, Any]]) -> list[Any]:
    """Run `calls` through createAppTester in one Node process; each call's results, or
    `{"error": message}` for a call that threw."""
    (app_dir / "calls.json").write_text(json.dumps(calls), encoding="utf-8")
    done = subprocess.run(
        ["node", "zap.js", "calls.json", "outcomes.json"],
        cwd=app_dir,
        env={"PATH": os.environ["PATH"], "HOME": str(app_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = json.loads((app_dir / "outcomes.json").read_text(encoding="utf-8"))
    return [o["results"] if o["ok"] else {"error": o["error"]} for o in outcomes]


def call(operation: str, api_key: str, **bundle: Any) -> dict[str, Any]:
    """A call of the session trigger's `operation` with the bundle Zapier would give it."""
    authed = {"authData": {"api_key": api_key}, "inputData": {}, **bundle}
    return {"method": f"{TRIGGER}.{operation}", "bundle": authed}


def api_key(auth: dict[str, str]) -> str:
    """The bare key of `auth`'s Bearer header, as a user pastes it into Zapier."""
    return auth["Authorization"].removeprefix("Bearer ")


def test_a_zap_subscribes_receives_lists_and_unsubscribes(
    app, client, auth, catalog, node_modules, tmp_path
):
    """The app authenticates, subscribes, turns a signed delivery into one item, lists the
    same shape, and unsubscribes, after which nothing is delivered."""
    key = api_key(auth)
    with served(app) as base, Receiver() as receiver:
        app_dir = exported(tmp_path, node_modules, base)
        definition, account, refused, hook = drive(
            app_dir,
            [
                {"command": "definition"},
                {"method": "authentication.test", "bundle": {"authData": {"api_key": key}}},
                {"method": "authentication.test", "bundle": {"authData": {"api_key": "nope"}}},
                call("performSubscribe", key, targetUrl=f"{receiver.url}/zap"),
            ],
        )
        assert sorted(definition["triggers"]) == sorted(map(trigger_key, catalog.names()))
        assert definition["authentication"]["connectionLabel"] == "{{bundle.inputData.name}}"
        assert account["name"] == "acme" and "401" in refused["error"]
        stored = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
        assert stored["platform"] == "zapier" and stored["target_url"] == f"{receiver.url}/zap"

        event = publish(client, auth, SESSION)
        (delivery,) = receiver.wait_for(1)
        verify(delivery.body, delivery.headers, hook["secret"])
        body = delivery.json()
        assert body["id"] == event["id"] and body["data"] == SESSION

        items, listed, gone = drive(
            app_dir,
            [
                call("perform", key, cleanedRequest=body),
                call("performList", key),
                call("performUnsubscribe", key, subscribeData=hook),
            ],
        )
        assert items == [body]
        assert listed[0] == body and all(set(item) == set(items[0]) for item in listed)
        assert gone == {"id": hook["id"]}
        assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 404
        assert publish(client, auth, SESSION)["deliveries"] == 0
        caught_up(client, auth)
        assert len(receiver.requests) == 1


def test_a_turned_off_zap_answering_410_loses_its_hook(app, client, auth, node_modules, tmp_path):
    """A receiver answering 410 Gone makes hookkit delete the Zap's hook; unsubscribing later
    still succeeds."""
    key = api_key(auth)
    with served(app) as base, Receiver([Reply(410, b"gone")]) as turned_off:
        app_dir = exported(tmp_path, node_modules, base)
        (hook,) = drive(app_dir, [call("performSubscribe", key, targetUrl=turned_off.url)])
        assert publish(client, auth, SESSION)["deliveries"] == 1
        turned_off.wait_for(1)
        wait_until(lambda: client.get(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 404)
        assert publish(client, auth, SESSION)["deliveries"] == 0
        (gone,) = drive(app_dir, [call("performUnsubscribe", key, subscribeData=hook)])
        assert gone == {"id": hook["id"]}
        assert len(turned_off.requests) == 1


def test_exports_are_identical_marked_and_valid_javascript(cli, node_modules, tmp_path):
    """Two `export zapier` runs write the same bytes, headed by the generated-by line, pinning
    the core the tests run, and index.js passes `node --check`."""
    runs = []
    for name in ("one", "two"):
        args = ("export", "zapier", str(tmp_path / name), "--base-url", "https://hooks.example.com")
        result = cli(*args, "--name", "Acme Booth")
        assert result.exit_code == 0, result.output
        runs.append({p.name: p.read_bytes() for p in sorted((tmp_path / name).iterdir())})
    assert runs[0] == runs[1] and sorted(runs[0]) == ["index.js", "package.json"]
    assert runs[0]["index.js"].decode().startswith(f"// {GENERATED_BY}\n")
    package = json.loads(runs[0]["package.json"])
    assert package["generatedBy"] == GENERATED_BY and package["name"] == "acme-booth"
    installed = json.loads((node_modules / "zapier-platform-core" / "package.json").read_text())
    assert package["dependencies"]["zapier-platform-core"] == CORE_VERSION == installed["version"]
    checked = subprocess.run(
        ["node", "--check", str(tmp_path / "one" / "index.js")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


def test_zapier_cli_finds_the_app_structurally_sound(node_modules, tmp_path):
    """`zapier-platform validate --without-style` on Node 22 reports no structural error; it
    runs offline, with analytics and the update check turned off."""
    app_dir = exported(tmp_path, node_modules, "https://hooks.example.com")
    done = subprocess.run(
        ["zapier-platform", "validate", "--without-style", "--format", "json"],
        cwd=app_dir,
        env={
            "PATH": f"{node_modules / '.bin'}{os.pathsep}{os.environ['PATH']}",  # node@22 first
            "HOME": str(tmp_path),
            "DISABLE_ZAPIER_ANALYTICS": "1",
            "NO_UPDATE_NOTIFIER": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == []


def test_triggers_follow_the_catalog_and_refuse_colliding_keys(catalog):
    """Each event type gives one trigger with its title, description, envelope sample and
    typed fields; two names that would share a key are refused."""
    by_event = {d["event"]: d for d in trigger_definitions(catalog)}
    assert sorted(by_event) == catalog.names()
    session = by_event["session"]
    assert session["key"] == "session" and by_event["render.completed"]["key"] == "render_completed"
    assert session["noun"] == session["display"]["label"] == catalog.get("session").title
    assert session["operation"]["sample"]["data"] == catalog.get("session").sample
    fields = {f["key"]: f for f in session["operation"]["outputFields"]}
    assert fields["timestamp"]["type"] == "datetime"
    assert fields["data__session__device__id"] == {
        "key": "data__session__device__id",
        "label": "Data Session Device ID",
        "type": "integer",
    }
    twins = Catalog([EventType(n, n, "", {}, {}) for n in ("a.b", "a_b")])
    with pytest.raises(ValueError, match="both become Zapier trigger 'a_b'"):
        trigger_definitions(twins)
