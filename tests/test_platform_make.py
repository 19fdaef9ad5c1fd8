"""Make: the custom app `python -m connector export make` writes, in the file layout of
Make's VS Code extension, deterministic and marked as generated; and every request it
describes replayed by a small IML interpreter (`tests/make_iml.py`) against a live hookkit,
with a real local receiver standing in for Make's webhook URL."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.catalog import Catalog
from connector.platforms.context import GENERATED_BY
from connector.platforms.export import export
from connector.platforms.make import envelope_interface, identifiers, parameter
from connector.testing import Receiver

from .conftest import _key, caught_up
from .live import served
from .make_iml import MakeApp, MakeError, load_jsonc, mismatches, trigger_key

NAME = "Acme Booth"
MODULE_ID = re.compile(r"^[a-zA-Z][0-9a-zA-Z]{2,47}$")  # the extension's rules for local ids
WEBHOOK_ID = re.compile(r"^[a-zA-Z][0-9a-zA-Z-]{1,33}[0-9a-zA-Z]$")
CONNECTION = "apiKey"


@pytest.fixture
def live(make_app: Any) -> Iterator[tuple[Any, str, str]]:
    """`(app, base URL, API key of acme)` of a hookkit served over real HTTP."""
    app = make_app()
    key = _key(app, "acme")["Authorization"].split(" ", 1)[1]
    with served(app) as url:
        yield app, url, key


def write(outdir: Path, catalog: Catalog, base_url: str = "https://hooks.example.com") -> MakeApp:
    export("make", outdir, catalog, base_url=base_url, name=NAME)
    return MakeApp(outdir)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def by_name(params: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {param["name"]: param for param in params}


def test_app_has_the_extension_layout(tmp_path: Path, catalog: Catalog) -> None:
    """makecomapp.json names a connection and, per event type, a webhook, an instant and a
    polling trigger, with valid ids and exactly the code files written."""
    app = write(tmp_path, catalog)
    components = app.manifest["components"]
    assert set(components) == {"connection", "endpoint", "function", "module", "rpc", "webhook"}
    assert app.manifest["fileVersion"] == 1 and app.manifest["origins"] == []
    assert components["connection"][CONNECTION]["connectionType"] == "basic"
    ids = identifiers(catalog.names())
    assert set(components["webhook"]) == {hook for hook, _, _ in ids.values()}
    assert set(components["module"]) == {m for _, *modules in ids.values() for m in modules}
    for name, (hook, instant, watch) in ids.items():
        assert WEBHOOK_ID.match(hook) and MODULE_ID.match(instant) and MODULE_ID.match(watch)
        webhook = components["webhook"][hook]
        assert (webhook["webhookType"], webhook["connection"]) == ("web", CONNECTION)
        assert components["module"][instant]["moduleType"] == "instant_trigger"
        assert components["module"][instant]["webhook"] == hook
        assert components["module"][watch]["moduleType"] == "trigger"
        assert components["module"][watch]["connection"] == CONNECTION
        assert set(webhook["codeFiles"]) == {"communication", "attach", "detach"}
        assert set(components["module"][watch]["codeFiles"]) == {
            "communication",
            "epoch",
            "staticParams",
            "interface",
            "samples",
        }
        attach = app.code("webhook", hook, "attach")
        assert (attach["method"], attach["url"]) == ("POST", "/v1/hooks")
        assert attach["body"] == {"event": name, "url": "{{webhook.url}}", "platform": "make"}
        assert attach["response"]["data"] == {"id": "{{body.id}}"}
        assert app.code("webhook", hook, "detach") == {
            "url": "/v1/hooks/{{webhook.id}}",
            "method": "DELETE",
        }
        poll = app.code("module", watch, "communication")
        assert poll["response"]["trigger"]["order"] == "desc"
        assert poll["response"]["trigger"]["type"] in ("id", "date")
        assert poll["qs"]["limit"] <= 300
        assert app.code("module", watch, "epoch")["qs"]["limit"] <= 300
        assert by_name(app.code("module", watch, "staticParams"))["limit"]["validate"]["max"] <= 300
    named = {"makecomapp.json", "README.md", app.manifest["generalCodeFiles"]["base"]}
    for kind, found in components.items():
        for meta in found.values():
            for path in meta["codeFiles"].values():
                assert path.startswith(f"{kind}s/") and path.endswith(".iml.json"), path
                named.add(path)
    assert set(snapshot(tmp_path)) == named


def test_two_exports_are_byte_identical(cli: Any, tmp_path: Path) -> None:
    """`export make` run twice with the same catalog and options writes the same bytes."""
    for out in ("one", "two"):
        args = ("export", "make", str(tmp_path / out), "--base-url", "https://hooks.example.com")
        result = cli(*args, "--name", NAME)
        assert result.exit_code == 0, result.output
    first, second = snapshot(tmp_path / "one"), snapshot(tmp_path / "two")
    assert first == second and len(first) > 10


def test_every_file_carries_the_generated_by_line(tmp_path: Path, catalog: Catalog) -> None:
    """IML-JSON codes open with it as a `//` comment, makecomapp.json holds it as its `//`
    field and the README as an HTML comment; every code still parses."""
    write(tmp_path, catalog)
    for relative, raw in snapshot(tmp_path).items():
        text = raw.decode("utf-8")
        assert GENERATED_BY in text, relative
        if relative.endswith(".iml.json"):
            assert text.startswith(f"// {GENERATED_BY}\n"), relative
            load_jsonc(text)
        elif relative == "makecomapp.json":
            assert json.loads(text)["//"] == GENERATED_BY
        else:
            assert relative == "README.md" and text.startswith(f"<!-- {GENERATED_BY} -->\n")


def test_interface_types_follow_the_json_schema(catalog: Catalog) -> None:
    """Objects become collections, arrays arrays with an item spec, and strings, numbers and
    nullable or untyped values the matching Make types; colliding names are refused."""
    envelope = by_name(envelope_interface(catalog.get("session").schema))
    assert [envelope[n]["type"] for n in ("id", "type", "timestamp")] == ["text", "text", "date"]
    data = by_name(envelope["data"]["spec"])
    session = by_name(data["session"]["spec"])
    assert (data["event_id"]["type"], data["session"]["type"]) == ("integer", "collection")
    assert session["direct_url"]["type"] == "url" and session["type"]["type"] == "text"
    assert session["still_template_id"]["type"] == "integer"  # ["integer", "null"]
    assert by_name(session["device"]["spec"])["device_info"]["label"] == "Device info"
    share = by_name(by_name(envelope_interface(catalog.get("share").schema))["data"]["spec"])
    sections = by_name(share["data_capture"]["spec"])["sections"]
    assert sections["type"] == "array" and sections["spec"]["type"] == "collection"
    section = by_name(sections["spec"]["spec"])
    assert section["position"]["type"] == "uinteger"  # minimum 0
    assert by_name(section["fields"]["spec"]["spec"])["required"]["type"] == "boolean"
    schema = {
        "$defs": {"when": {"type": "string", "format": "date-time"}},
        "type": "object",
        "properties": {
            "at": {"$ref": "#/$defs/when", "title": "Started at"},
            "kind": {"enum": ["a", "b"]},
            "ratio": {"type": "number"},
            "free": {"type": "object"},
            "anything": {},
            "uid": {"type": "string", "format": "uuid"},
            "to": {"type": "string", "format": "email"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    made = by_name(parameter("x", schema, schema)["spec"])
    assert {key: value["type"] for key, value in made.items()} == {
        "at": "date",
        "kind": "text",
        "ratio": "number",
        "free": "collection",
        "anything": "any",
        "uid": "uuid",
        "to": "email",
        "tags": "array",
    }
    assert made["at"]["label"] == "Started at" and "spec" not in made["free"]
    assert made["tags"]["spec"] == {"type": "text"}
    with pytest.raises(ValueError, match="both map to"):
        identifiers(["render.done", "render_done"])
    (long,) = identifiers(["x" * 80 + ".happened"]).values()
    assert WEBHOOK_ID.match(long[0]) and MODULE_ID.match(long[1]) and MODULE_ID.match(long[2])


def test_connection_test_names_the_account_and_refuses_a_wrong_key(
    live: tuple[Any, str, str], tmp_path: Path, catalog: Catalog
) -> None:
    """The connection's test call with the key labels the connection with its account; a
    wrong key fails with the API's own message, as the error directive builds it."""
    _, url, key = live
    make = write(tmp_path, catalog, url)
    result = make.test_connection(CONNECTION, {"apiKey": key})
    assert result.sent["url"] == f"{url}/v1/account"
    assert result.sent["headers"] == {"Authorization": f"Bearer {key}"}
    assert result.metadata == {"type": "text", "value": "acme"}
    with pytest.raises(MakeError) as failed:
        make.test_connection(CONNECTION, {"apiKey": "not-a-key"})
    assert failed.value.status == 401 and str(failed.value).startswith("[401] ")


def test_replay_attach_deliver_poll_detach(
    live: tuple[Any, str, str], tmp_path: Path, catalog: Catalog
) -> None:
    """For every event type: attach subscribes the receiver (idempotently), a published event
    arrives matching the instant trigger's interface, the polling trigger lists it and its
    successor from the epoch's start, and after detach nothing more is delivered."""
    app, url, key = live
    make = write(tmp_path, catalog, url)
    connection, headers = {"apiKey": key}, {"Authorization": f"Bearer {key}"}
    scope = {"connection": connection, "parameters": {"limit": 10}}
    ids = identifiers(catalog.names())
    owner = {hook: name for name, (hook, _, _) in ids.items()}

    def publish_all() -> dict[str, str]:
        published = {}
        for name in ids:
            body = {"type": name, "data": catalog.get(name).sample}
            answer = requests.post(f"{url}/v1/events", json=body, headers=headers, timeout=10)
            assert answer.status_code == 202, answer.text
            published[name] = answer.json()["id"]
        return published

    def check_deliveries(recorded: list[Any], published: dict[str, str]) -> None:
        assert sorted(r.path.lstrip("/") for r in recorded) == sorted(owner)
        for request in recorded:
            hook = request.path.lstrip("/")
            name = owner[hook]
            bundle = make.incoming(hook, request.json(), request.headers)
            assert mismatches(bundle, make.code("module", ids[name][1], "interface")) == []
            assert bundle["id"] == published[name] and bundle["type"] == name
            assert bundle["data"] == catalog.get(name).sample

    with Receiver() as receiver:
        attached = {}
        for name, (hook, _, _) in ids.items():
            data = make.attach(hook, f"{receiver.url}/{hook}", connection)
            assert make.attach(hook, f"{receiver.url}/{hook}", connection) == data  # a repeat
            stored = requests.get(f"{url}/v1/hooks/{data['id']}", headers=headers, timeout=10)
            assert stored.status_code == 200
            assert (stored.json()["event"], stored.json()["platform"]) == (name, "make")
            assert stored.json()["target_url"] == f"{receiver.url}/{hook}"
            attached[name] = data

        first = publish_all()
        check_deliveries(receiver.wait_for(len(ids)), first)

        starts = {}
        for name, (_, instant, watch) in ids.items():
            everything, _ = make.poll(watch, scope, None)  # "All"
            assert [b.output["id"] for b in everything] == [first[name]]
            assert mismatches(everything[0].output, make.code("module", instant, "interface")) == []
            choices = make.epoch(watch, scope)
            assert [c.trigger["id"] for c in choices] == [first[name]]
            label = f"{catalog.get(name).title} {first[name]}"
            assert choices[0].output == {"label": label, "date": everything[0].output["timestamp"]}
            starts[name] = trigger_key(choices[0].trigger)
            assert make.poll(watch, scope, starts[name]) == ([], starts[name])

        second = publish_all()
        check_deliveries(receiver.wait_for(2 * len(ids))[len(ids) :], second)
        for name, (_, instant, watch) in ids.items():
            fresh, state = make.poll(watch, scope, starts[name])
            assert [b.output["id"] for b in fresh] == [second[name]]
            assert second[name] > first[name]  # ids sort like the list: usable as an id trigger
            assert mismatches(fresh[0].output, make.code("module", instant, "interface")) == []
            assert make.poll(watch, scope, state) == ([], state)

        for name, (hook, _, _) in ids.items():
            assert make.detach(hook, attached[name], connection).status == 204
            hook_url = f"{url}/v1/hooks/{attached[name]['id']}"
            assert requests.get(hook_url, headers=headers, timeout=10).status_code == 404
        listed = requests.get(f"{url}/v1/hooks?platform=make", headers=headers, timeout=10)
        assert listed.json()["subscriptions"] == []

        before = len(receiver.requests)
        publish_all()
        caught_up(app.test_client(), headers)  # every delivery due by now has been sent
        assert len(receiver.requests) == before


def test_polling_hands_on_the_oldest_new_events_within_the_limit(
    live: tuple[Any, str, str], tmp_path: Path, catalog: Catalog
) -> None:
    """With more new events than the limit a run hands on the oldest of them and the next
    run the rest; the epoch lists at most 300 events, newest first, with distinct ids."""
    app, url, key = live
    make = write(tmp_path, catalog, url)
    name = "render.failed"
    (_, _, watch) = identifiers(catalog.names())[name]
    client, headers = app.test_client(), {"Authorization": f"Bearer {key}"}
    for _ in range(305):
        body = {"type": name, "data": catalog.get(name).sample}
        assert client.post("/v1/events", json=body, headers=headers).status_code == 202
        time.sleep(0.002)  # one event per millisecond at most, as ids order by millisecond
    scope = {"connection": {"apiKey": key}, "parameters": {"limit": 2}}
    choices = make.epoch(watch, scope)
    assert len(choices) == 300
    ids = [c.trigger["id"] for c in choices]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 300
    first, state = make.poll(watch, scope, trigger_key(choices[4].trigger))
    assert [b.output["id"] for b in first] == [ids[3], ids[2]]
    second, state = make.poll(watch, scope, state)
    assert [b.output["id"] for b in second] == [ids[1], ids[0]]
    assert make.poll(watch, scope, state) == ([], state)
    with pytest.raises(MakeError) as failed:
        make.poll(watch, {"connection": {"apiKey": "wrong"}, "parameters": {"limit": 2}}, None)
    assert failed.value.status == 401
