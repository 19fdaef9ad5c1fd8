"""Power Automate: `export powerautomate` writes a custom-connector folder that validates as
Swagger 2.0 under 1 MB, and whose webhook trigger, driven as Power Automate drives it from
nothing but the exported definition, subscribes on a live hookkit, is notified with a body
matching its notification schema, and unsubscribes through the Location it was given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
from jsonschema import Draft4Validator
from openapi_spec_validator import OpenAPIV2SpecValidator

from connector.platforms.context import GENERATED_BY
from connector.testing import Receiver

from .conftest import SESSION, caught_up, publish
from .live import served

NAME = "Acme Booth"
# A callback URL shaped like Power Automate's; its query parameters must come back unchanged.
CALLBACK_PATH = "/workflows/0f1e/triggers/manual/paths/invoke"
CALLBACK_QUERY = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sig=5PnqUWVr1b_Mp7-zLk"


def export(cli: Any, outdir: Path, base_url: str = "https://hooks.example.com") -> dict[str, str]:
    """`python -m connector export powerautomate OUTDIR` in-process; its files by name."""
    result = cli("export", "powerautomate", str(outdir), "--base-url", base_url, "--name", NAME)
    assert result.exit_code == 0, result.output
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(outdir.iterdir())}


def trigger_of(definition: dict[str, Any]) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """`(path, method, operation, path item)` of the one operation with `x-ms-trigger`."""
    found = [
        (path, method, operation, item)
        for path, item in definition["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "x-ms-trigger" in operation
    ]
    assert len(found) == 1, [f[:2] for f in found]
    return found[0]


def json_schema(node: Any) -> Any:
    """A Swagger 2.0 schema as JSON Schema draft 4: `x-nullable` becomes a null type."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: json_schema(value) for key, value in node.items()}
    if out.pop("x-nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def test_connector_folder_validates_and_is_deterministic(cli, tmp_path):
    """Swagger 2.0 that validates, under 1 MB; the API-key connection parameter; one webhook
    trigger whose callback field is internal; the same bytes on every export."""
    exported = export(cli, tmp_path / "a")
    assert exported == export(cli, tmp_path / "b")
    assert set(exported) == {"apiDefinition.swagger.json", "apiProperties.json"}
    raw = exported["apiDefinition.swagger.json"]
    assert len(raw.encode()) < 1_000_000
    definition = json.loads(raw)
    OpenAPIV2SpecValidator(definition).validate()
    assert definition["swagger"] == "2.0" and definition["x-generated-by"] == GENERATED_BY
    assert definition["info"]["title"] == NAME
    assert (definition["schemes"], definition["host"]) == (["https"], "hooks.example.com")

    parameters = json.loads(exported["apiProperties.json"])["properties"]["connectionParameters"]
    assert parameters["api_key"]["type"] == "securestring"
    assert parameters["api_key"]["uiDefinition"]["constraints"]["required"] == "true"
    (scheme,) = definition["securityDefinitions"].values()
    assert scheme["type"] == "apiKey" and scheme["in"] == "header"

    path, method, operation, item = trigger_of(definition)
    assert (path, method, operation["x-ms-trigger"]) == ("/v1/hooks", "post", "single")
    assert "x-ms-notification-content" in item and "x-ms-notification-content" not in operation
    (body,) = [p for p in operation["parameters"] if p["in"] == "body"]
    callback = [
        k for k, v in body["schema"]["properties"].items() if v.get("x-ms-notification-url")
    ]
    assert len(callback) == 1
    assert body["schema"]["properties"][callback[0]]["x-ms-visibility"] == "internal"
    assert set(body["schema"]["properties"]) == {"event", callback[0]}  # nothing that reshapes
    assert "Location" in operation["responses"]["201"]["headers"]
    deletes = [p for p, ops in definition["paths"].items() if "delete" in ops]
    assert any(p.startswith(path + "/{") for p in deletes)


def test_trigger_driven_as_power_automate_would(cli, app, auth, tmp_path):
    """Everything read from the exported definition: the trigger's body is built from its
    schema (callback = a real receiver, event from the enum) and sent with the API-key header
    the security definition names; 201 + Location; a published event reaches the callback
    matching the notification schema; DELETE on Location ends it, and nothing more arrives."""
    client = app.test_client()
    key = auth["Authorization"].split()[1]
    with served(app) as base, Receiver() as receiver:
        definition = json.loads(export(cli, tmp_path / "pa", base)["apiDefinition.swagger.json"])
        root = f"{definition['schemes'][0]}://{definition['host']}{definition['basePath']}"
        assert root.rstrip("/") == base
        path, method, operation, item = trigger_of(definition)

        (requirement,) = operation.get("security", definition["security"])
        (scheme_name,) = requirement
        scheme = definition["securityDefinitions"][scheme_name]
        assert (scheme["type"], scheme["in"]) == ("apiKey", "header")
        headers = {scheme["name"]: key}

        (body_parameter,) = [p for p in operation["parameters"] if p["in"] == "body"]
        schema = body_parameter["schema"]
        callback = f"{receiver.url}{CALLBACK_PATH}?{CALLBACK_QUERY}"
        body: dict[str, Any] = {}
        for name in schema["required"]:
            field = schema["properties"][name]
            if field.get("x-ms-notification-url"):
                body[name] = callback
            elif "enum" in field:
                body[name] = "session" if "session" in field["enum"] else field["enum"][0]
            else:
                raise AssertionError(f"Power Automate could not fill required field {name!r}")
        assert body["event"] == "session" and callback in body.values()
        assert Draft4Validator(json_schema(schema)).is_valid(body)

        url = urljoin(root, path.lstrip("/"))
        created = requests.request(method.upper(), url, json=body, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        location = created.headers["Location"]

        publish(client, auth, SESSION)
        (notified,) = receiver.wait_for(1)
        assert (notified.method, notified.path) == ("POST", CALLBACK_PATH)
        assert notified.query_params() == dict(parse_qsl(CALLBACK_QUERY))
        notification = item["x-ms-notification-content"]["schema"]
        envelope = notified.json()
        errors = list(Draft4Validator(json_schema(notification)).iter_errors(envelope))
        assert not errors, [e.message for e in errors]
        assert (envelope["type"], envelope["data"]) == ("session", SESSION)

        # Power Automate keeps Location and DELETEs it, with the connection's API key.
        target = urljoin(created.url, location)
        assert urlsplit(target).netloc == urlsplit(base).netloc
        deleted = requests.delete(target, headers=headers, timeout=10)
        assert deleted.status_code == 204, deleted.text
        assert requests.get(target, headers=headers, timeout=10).status_code == 404

        publish(client, auth, SESSION)
        caught_up(client, auth)
        assert len(receiver.requests) == 1
