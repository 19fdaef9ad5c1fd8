"""n8n: `export n8n` writes a community-node package that compiles with the pinned `tsc`, and
whose trigger, driven the way n8n drives it (tests/node/n8n/harness.js), subscribes on a live
hookkit, accepts real signed deliveries, refuses altered ones and unsubscribes."""

from __future__ import annotations

import base64
import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from connector import verify
from connector.platforms.context import GENERATED_BY
from connector.testing import Receiver
from connector.wire.signing import generate_secret, sign

from .conftest import SESSION, publish, shipped_catalog
from .live import served, stop_process

NODE_DIR = Path(__file__).parent / "node" / "n8n"
NAME = "Acme Booth"
PACKAGE = "n8n-nodes-acme-booth"
NODE_TS = "nodes/AcmeBoothTrigger/AcmeBoothTrigger.node.ts"
CREDENTIAL_TS = "credentials/AcmeBoothApi.credentials.ts"


def node_modules() -> Path:
    """tests/node/n8n's installed packages (scripts/test runs `npm ci` there)."""
    path = NODE_DIR / "node_modules"
    if shutil.which("node") is None or not (path / "typescript").is_dir():
        pytest.fail("needs Node 20 and `npm ci` in tests/node/n8n (scripts/test does both)")
    return path


def export(cli: Any, outdir: Path, base_url: str = "http://127.0.0.1:8000") -> dict[str, bytes]:
    """`python -m connector export n8n OUTDIR`; every file written, by relative path."""
    result = cli("export", "n8n", str(outdir), "--base-url", base_url, "--name", NAME)
    assert result.exit_code == 0, result.output
    return {
        str(path.relative_to(outdir)): path.read_bytes()
        for path in sorted(outdir.rglob("*"))
        if path.is_file()
    }


def compile_package(outdir: Path) -> None:
    """`tsc -p OUTDIR` with tests/node/n8n's packages linked in: no error, no warning."""
    (outdir / "node_modules").symlink_to(node_modules().resolve(), target_is_directory=True)
    tsc = outdir / "node_modules" / "typescript" / "bin" / "tsc"
    done = subprocess.run(
        ["node", str(tsc), "-p", str(outdir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
        done.stdout + done.stderr
    )


class Harness:
    """harness.js driving the compiled node and credential: one JSON line each way."""

    def __init__(self, outdir: Path, log: Path) -> None:
        package = json.loads((outdir / "package.json").read_text())
        node_js, credential_js = package["n8n"]["nodes"][0], package["n8n"]["credentials"][0]
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [
                "node",
                str(NODE_DIR / "harness.js"),
                str(outdir / node_js),
                str(outdir / credential_js),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.log = log
        self._answers: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._answers.put(line)

    def send(self, op: str, **fields: Any) -> dict[str, Any]:
        """Run one command; its answer, `ok` False with `error` when the node threw."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        try:
            return json.loads(self._answers.get(timeout=20))  # type: ignore[no-any-return]
        except queue.Empty:
            raise AssertionError(f"no answer to {op}: {self.log.read_text()}") from None

    def __call__(self, op: str, **fields: Any) -> dict[str, Any]:
        """Run one command that must succeed."""
        answer = self.send(op, **fields)
        assert answer.pop("ok"), answer
        return answer

    def deliver(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """Hand the node's webhook() a request as n8n's webhook server received it."""
        encoded = base64.b64encode(body).decode()
        return self("webhook", headers=headers, body=encoded)

    def close(self) -> None:
        stop_process(self.proc)
        self._log.close()


def signed(secret: str, body: bytes, at: float, msg_id: str = "msg_test") -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with `secret` at `at`."""
    timestamp = int(at)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(msg_id, timestamp, body, [secret]),
        "content-type": "application/json",
    }


def test_export_is_a_deterministic_community_node_package(cli, tmp_path):
    """Two exports are byte-identical; package.json is an n8n community-node package whose
    pins are those the tests compile with; every source file names its generator."""
    first, second = export(cli, tmp_path / "a"), export(cli, tmp_path / "b")
    assert first == second
    assert set(first) == {"package.json", "tsconfig.json", "README.md", NODE_TS, CREDENTIAL_TS}
    package = json.loads(first["package.json"])
    assert package["name"] == PACKAGE
    assert "n8n-community-node-package" in package["keywords"]
    assert package["n8n"]["nodes"] == ["dist/nodes/AcmeBoothTrigger/AcmeBoothTrigger.node.js"]
    assert package["n8n"]["credentials"] == ["dist/credentials/AcmeBoothApi.credentials.js"]
    pinned = json.loads((NODE_DIR / "package.json").read_text())["devDependencies"]
    assert package["devDependencies"] == pinned
    assert package["peerDependencies"] == {"n8n-workflow": "*"}
    for path in ("tsconfig.json", "README.md", NODE_TS, CREDENTIAL_TS):
        assert GENERATED_BY in first[path].decode().splitlines()[0], path
    node = first[NODE_TS].decode()
    for name in shipped_catalog().names():
        assert f'"value": {json.dumps(name)}' in node
    assert "timingSafeEqual" in node and "getWorkflowStaticData('node')" in node


def test_trigger_lifecycle_and_verified_deliveries_on_a_live_hookkit(cli, app, auth, tmp_path):
    """Compiled with tsc and driven as n8n drives it against a live hookkit: subscribe, keep
    the id and secret, accept a real delivery, refuse altered or stale ones, find the same
    hook after losing the id, replace an outdated hook, and unsubscribe."""
    client = app.test_client()
    key = auth["Authorization"].split()[1]
    with served(app) as base, Receiver() as receiver:
        outdir = tmp_path / "package"
        export(cli, outdir, base_url=base)  # the credential's default base URL: this server
        compile_package(outdir)
        harness = Harness(outdir, tmp_path / "harness.log")
        try:
            webhook_url = f"{receiver.url}/webhook/0b6f2c1e/webhook"
            harness("configure", credentials={"apiKey": "wrong"}, webhookUrl=webhook_url,
                    parameters={"event": "session"})  # fmt: skip

            # The credential test n8n runs, and a create refused with a clear error.
            assert harness("testCredential")["status"] == 401
            refused = harness.send("create")
            assert not refused["ok"] and refused["name"] == "NodeOperationError"
            assert "status 401" in refused["error"]
            harness("configure", credentials={"apiKey": key})
            assert harness("testCredential") == {
                "status": 200,
                "calls": [{"method": "GET", "url": f"{base}/v1/account", "body": None,
                           "status": 200}],
            }  # fmt: skip

            # Activation: nothing saved yet, so n8n creates the subscription.
            assert harness("checkExists") == {"result": False, "staticData": {}, "calls": []}
            created = harness("create")
            assert created["result"] is True
            (call,) = created["calls"]
            assert (call["method"], call["url"], call["status"]) == (
                "POST",
                f"{base}/v1/hooks",
                201,
            )
            assert call["body"] == {
                "event": "session",
                "url": webhook_url,
                "platform": "n8n",
                "signature": {
                    "scheme": "standard-webhooks"
                },  # what the node verifies, whatever the default
            }
            hook_id, secret = created["staticData"]["hookId"], created["staticData"]["secret"]
            assert secret.startswith("whsec_")
            hook = client.get(f"/v1/hooks/{hook_id}", headers=auth).json
            assert (hook["target_url"], hook["events"], hook["platform"]) == (
                webhook_url,
                ["session"],
                "n8n",
            )
            assert harness("checkExists")["result"] is True

            # A real delivery, as the receiver got it, starts the workflow with its body.
            publish(client, auth, SESSION)
            (delivered,) = receiver.wait_for(1)
            verify(delivered.body, delivered.headers, secret)
            accepted = harness.deliver(delivered.body, delivered.headers)
            assert accepted == {
                "status": None,
                "sent": None,
                "headers": {},
                "noWebhookResponse": False,
                "workflowData": [[{"json": delivered.json()}]],
            }
            assert delivered.json()["data"] == SESSION

            # Altered, stale, foreign or unsigned deliveries: 401 and no workflow run.
            body = delivered.body
            tampered = body.replace(b'"abc123xyz"', b'"abc123xyZ"')
            assert tampered != body and json.loads(tampered)
            now = time.time()
            refusals = [
                ("no signature matches", tampered, delivered.headers),
                ("timestamp outside the tolerance window", body, signed(secret, body, now - 400)),
                ("no signature matches", body, signed(generate_secret(), body, now)),
                ("missing webhook-* headers", body, {"content-type": "application/json"}),
            ]
            for reason, payload, headers in refusals:
                answer = harness.deliver(payload, headers)
                assert answer["status"] == 401 and answer["sent"] == f"signature: {reason}"
                assert answer["noWebhookResponse"] is True and answer["workflowData"] is None
            fresh = harness.deliver(body, signed(secret, body, now))  # its own signature, now
            assert fresh["workflowData"] == [[{"json": delivered.json()}]]

            # n8n lost the saved id: create again finds the same hook and its secret (200).
            harness("forget")
            assert harness("checkExists")["result"] is False
            again = harness("create")
            assert again["calls"][0]["status"] == 200
            assert again["staticData"] == {"hookId": hook_id, "secret": secret}

            # The event was changed while the hook stayed: checkExists removes the old one.
            harness("configure", parameters={"event": "share"})
            outdated = harness("checkExists")
            assert outdated["result"] is False and outdated["staticData"] == {}
            assert [c["method"] for c in outdated["calls"]] == ["GET", "DELETE"]
            assert client.get(f"/v1/hooks/{hook_id}", headers=auth).status_code == 404
            share_id = harness("create")["staticData"]["hookId"]
            assert client.get(f"/v1/hooks/{share_id}", headers=auth).json["events"] == ["share"]

            # Deleted behind n8n's back: the GET answers 404, so checkExists says no.
            assert client.delete(f"/v1/hooks/{share_id}", headers=auth).status_code == 204
            gone = harness("checkExists")
            assert gone["result"] is False and gone["staticData"] == {}
            assert [c["status"] for c in gone["calls"]] == [404]

            # Deactivation: delete unsubscribes and clears what was saved.
            last_id = harness("create")["staticData"]["hookId"]
            deleted = harness("delete")
            assert deleted["result"] is True and deleted["staticData"] == {}
            assert [(c["method"], c["status"]) for c in deleted["calls"]] == [("DELETE", 204)]
            assert client.get(f"/v1/hooks/{last_id}", headers=auth).status_code == 404
            assert harness("checkExists")["result"] is False
        finally:
            harness.close()
