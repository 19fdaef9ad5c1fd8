"""Make: a custom app in the local-development layout of Make's VS Code extension (Make
Apps Editor): `makecomapp.json` names every component and its code files, `README.md` is
the app's documentation, `general/base.iml.json` the settings every module and webhook RPC
inherits (base URL, `Authorization: Bearer {{connection.apiKey}}`, errors), and each
component has a folder of its own:

- `connections/api-key/`: the API-key parameter and the connection test, `GET /v1/account`;
- per event type, `webhooks/hook-<type>/`: a dedicated webhook whose `attach` subscribes
  Make's URL (`POST /v1/hooks {"event", "url": "{{webhook.url}}", "platform": "make"}`,
  keeping our hook id in `response.data.id`) and whose `detach` deletes it
  (`DELETE /v1/hooks/{{webhook.id}}`); each delivered body is one bundle;
- per event type, `modules/instant-<type>/`: the instant trigger on that webhook, whose
  interface is the delivered envelope with `data` derived from the type's JSON Schema;
- per event type, `modules/watch-<type>/`: a polling trigger over `GET /v1/events` (newest
  first: `order: desc`, a `date` trigger on `timestamp` with `id` breaking ties), whose
  epoch lists at most 300 events to start from.

IML-JSON codes are JSONC, so each starts with a `// GENERATED_BY` line; `makecomapp.json`
is read with a plain JSON parser, so it carries the line as its `"//"` field, and the
README as an HTML comment.

This module never talks to the network, never reads the environment or the disk (the
catalog comes in the context) and never writes a file (`export` does); it never emits a
code a Make user would have to edit, and never a key or secret. Same context, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..api.events import MAX_POLL
from .context import GENERATED_BY, ExportContext

CONNECTION = "apiKey"
COMPONENT_TYPES = ("connection", "endpoint", "function", "module", "rpc", "webhook")
# Make's rules for local ids (the extension refuses others): modules letters and digits,
# 48 at most today; webhooks and connections may hold dashes, 35 at most.
MODULE_ID_MAX, WEBHOOK_ID_MAX = 48, 35
SAMPLE_ID, SAMPLE_TIME = "evt_sample", "2026-01-01T00:00:00.000Z"
ERROR = {"message": "[{{statusCode}}] {{body.detail}}"}  # every error is problem+json

# The file name of each code in a component folder, as the extension names them.
_CODE_FILES = {
    "communication": "communication",
    "params": "params",
    "attach": "attach",
    "detach": "detach",
    "epoch": "epoch",
    "staticParams": "static-params",
    "interface": "interface",
    "samples": "samples",
}
_FORMATS = {"date-time": "date", "uri": "url", "url": "url", "email": "email", "uuid": "uuid"}
_SCALARS = {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean"}
_ACRONYMS = {"id", "ids", "url", "uri", "uuid", "api", "qr", "sms", "ai", "pdf", "gif"}
_MAX_DEPTH = 16  # a recursive schema is described this deep, then as a bare collection


def files(ctx: ExportContext) -> dict[str, str]:
    """Every file of the custom app, by path relative to the output directory."""
    out = {"README.md": _readme(ctx), "general/base.iml.json": _iml(_base(ctx))}
    components: dict[str, dict[str, Any]] = {kind: {} for kind in COMPONENT_TYPES}

    def add(kind: str, local_id: str, meta: dict[str, Any], codes: dict[str, Any]) -> None:
        folder = f"{kind}s/{_kebab(local_id)}"
        paths = {
            code: f"{folder}/{_kebab(local_id)}.{_CODE_FILES[code]}.iml.json" for code in codes
        }
        out.update({paths[code]: _iml(value) for code, value in codes.items()})
        components[kind][local_id] = {**meta, "codeFiles": paths}

    add(
        "connection",
        CONNECTION,
        {"label": f"{ctx.name} API key", "connectionType": "basic"},
        {"communication": _connection_test(ctx), "params": _connection_params(ctx)},
    )
    for name, (hook, instant, watch) in identifiers(ctx.catalog.names()).items():
        event = ctx.catalog.get(name)
        interface, samples = envelope_interface(event.schema), _sample(name, event.sample)
        add(
            "webhook",
            hook,
            {"label": f"{event.title} events", "webhookType": "web", "connection": CONNECTION},
            {"communication": {"output": "{{body}}"}, "attach": _attach(name), "detach": _detach()},
        )
        add(
            "module",
            instant,
            {
                "label": f"Watch {event.title}",
                "description": f"Instantly, on each {name} event. {event.description}".strip(),
                "moduleType": "instant_trigger",
                "connection": CONNECTION,
                "webhook": hook,
            },
            {"interface": interface, "samples": samples},
        )
        add(
            "module",
            watch,
            {
                "label": f"Watch {event.title} (polling)",
                "description": f"Lists new {name} events each time the scenario runs, oldest "
                f"first. {event.description}".strip(),
                "moduleType": "trigger",
                "connection": CONNECTION,
            },
            {
                "communication": _poll(name),
                "epoch": _epoch(event.title),
                "staticParams": _limit_param(),
                "interface": interface,
                "samples": samples,
            },
        )
    out["makecomapp.json"] = _json(
        {
            "//": GENERATED_BY,
            "fileVersion": 1,
            "generalCodeFiles": {
                "base": "general/base.iml.json",
                "common": None,  # no common data: nothing secret is shared across modules
                "groups": None,  # Make's default grouping; groups.json could hold no marker
                "readme": "README.md",
            },
            "components": components,
            "origins": [],  # the Make app to deploy to: the extension asks on first deploy
        }
    )
    return out


def identifiers(names: list[str]) -> dict[str, tuple[str, str, str]]:
    """`{event type: (webhook id, instant trigger id, polling trigger id)}`, valid local ids
    for Make; raises `ValueError` when two event types would get the same ids."""
    found: dict[str, tuple[str, str, str]] = {}
    owners: dict[str, str] = {}
    for name in names:
        camel = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name))
        ids = (
            _fit("hook" + camel, WEBHOOK_ID_MAX, name),
            _fit("instant" + camel, MODULE_ID_MAX, name),
            _fit("watch" + camel, MODULE_ID_MAX, name),
        )
        for local_id in ids:
            if local_id in owners:
                raise ValueError(
                    f"event types {owners[local_id]!r} and {name!r} both map to {local_id}"
                )
            owners[local_id] = name
        found[name] = ids
    return found


def envelope_interface(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The Make interface of a delivered envelope whose `data` matches `schema`."""
    return [
        {"name": "id", "label": "Event ID", "type": "text"},
        {"name": "type", "label": "Event type", "type": "text"},
        {"name": "timestamp", "label": "Timestamp", "type": "date"},
        {**parameter("data", schema, schema), "label": "Data"},
    ]


def parameter(name: str | None, schema: Any, root: Any, depth: int = 0) -> dict[str, Any]:
    """One Make parameter for a JSON Schema: objects become collections (their properties
    the `spec`), arrays arrays (their items the `spec`), strings text, date, url, email or
    uuid by `format`, integers `uinteger` when at least 0. `name=None`: an array's item."""
    schema = _resolve(schema, root)
    out: dict[str, Any] = {}
    if name is not None:
        title = schema.get("title")
        out.update(name=name, label=title if isinstance(title, str) and title else _label(name))
    kind = _json_type(schema)
    out["type"] = kind
    if kind == "collection" and isinstance(schema.get("properties"), dict):
        if schema["properties"] and depth < _MAX_DEPTH:
            out["spec"] = [
                parameter(key, sub, root, depth + 1) for key, sub in schema["properties"].items()
            ]
    elif kind == "array" and isinstance(schema.get("items"), dict) and depth < _MAX_DEPTH:
        out["spec"] = parameter(None, schema["items"], root, depth + 1)
    description = schema.get("description")
    if name is not None and isinstance(description, str) and description:
        out["help"] = description
    return out


def _json_type(schema: dict[str, Any]) -> str:
    declared = schema.get("type")
    types = [t for t in (declared if isinstance(declared, list) else [declared]) if t]
    named = [t for t in types if t != "null"]
    if named:
        kind = named[0]
    elif "properties" in schema:
        kind = "object"
    elif "items" in schema:
        kind = "array"
    elif "const" in schema or schema.get("enum"):
        value = schema["const"] if "const" in schema else schema["enum"][0]
        kind = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
            type(value), "any"
        )
    else:
        return "any"
    if kind == "object":
        return "collection"
    if kind == "string":
        return _FORMATS.get(schema.get("format", ""), "text")
    if kind == "integer":
        low = schema.get("minimum")
        return "uinteger" if isinstance(low, int | float) and low >= 0 else "integer"
    return "array" if kind == "array" else _SCALARS.get(kind, "any")


def _resolve(schema: Any, root: Any) -> dict[str, Any]:
    """`schema` with local `$ref`s followed (its own keywords win); a boolean schema is `{}`."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if not (isinstance(ref, str) and ref.startswith("#")):
            return schema
        target: Any = root
        for part in filter(None, ref[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part, {}) if isinstance(target, dict) else {}
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        schema = {**target, **rest} if isinstance(target, dict) else rest
    return {}


def _base(ctx: ExportContext) -> dict[str, Any]:
    return {
        "baseUrl": ctx.base_url,
        "headers": {"Authorization": "Bearer {{connection.apiKey}}"},
        "response": {"error": ERROR},
        "log": {"sanitize": ["request.headers.authorization"]},
    }


def _connection_test(ctx: ExportContext) -> dict[str, Any]:
    """Connections do not inherit the base: the full URL and the key being tested."""
    return {
        "url": f"{ctx.base_url}/v1/account",
        "method": "GET",
        "headers": {"Authorization": "Bearer {{parameters.apiKey}}"},
        "response": {"metadata": {"type": "text", "value": "{{body.name}}"}, "error": ERROR},
        "log": {"sanitize": ["request.headers.authorization"]},
    }


def _connection_params(ctx: ExportContext) -> list[dict[str, Any]]:
    return [
        {
            "name": "apiKey",
            "type": "password",
            "label": "API key",
            "required": True,
            "help": f"An API key of your {ctx.name} account (the operator creates one with "
            "`python -m connector keys create ACCOUNT`).",
        }
    ]


def _attach(event_type: str) -> dict[str, Any]:
    return {
        "url": "/v1/hooks",
        "method": "POST",
        "body": {"event": event_type, "url": "{{webhook.url}}", "platform": "make"},
        "response": {"data": {"id": "{{body.id}}"}},
        "log": {"sanitize": ["response.body.secret"]},
    }


def _detach() -> dict[str, Any]:
    return {"url": "/v1/hooks/{{webhook.id}}", "method": "DELETE"}


def _poll(event_type: str) -> dict[str, Any]:
    """Always the newest `MAX_POLL` events: Make drops those it has processed and hands on
    at most the user's limit, oldest first."""
    return {
        "url": "/v1/events",
        "method": "GET",
        "qs": {"type": event_type, "limit": MAX_POLL},
        "response": {
            "iterate": "{{body.events}}",
            "limit": "{{parameters.limit}}",
            "output": "{{item}}",
            "trigger": {
                "type": "date",
                "order": "desc",
                "id": "{{item.id}}",
                "date": "{{item.timestamp}}",
            },
        },
    }


def _epoch(title: str) -> dict[str, Any]:
    return {
        "qs": {"limit": MAX_POLL},
        "response": {
            "iterate": "{{body.events}}",
            "limit": MAX_POLL,
            "output": {"label": f"{title} {{{{item.id}}}}", "date": "{{item.timestamp}}"},
        },
    }


def _limit_param() -> list[dict[str, Any]]:
    return [
        {
            "name": "limit",
            "type": "uinteger",
            "label": "Maximum number of events",
            "help": f"How many new events one run hands on at most (1-{MAX_POLL}).",
            "default": 10,
            "required": True,
            "validate": {"min": 1, "max": MAX_POLL},
        }
    ]


def _sample(event_type: str, data: Any) -> dict[str, Any]:
    return {"id": SAMPLE_ID, "type": event_type, "timestamp": SAMPLE_TIME, "data": data}


def _readme(ctx: ExportContext) -> str:
    rows = []
    for name in ctx.catalog.names():
        title = ctx.catalog.get(name).title
        rows.append(f"| Watch {title} | instant | `{name}` events the moment they happen |")
        rows.append(f"| Watch {title} (polling) | scheduled | new `{name}` events at each run |")
    return "\n".join(
        [
            f"<!-- {GENERATED_BY} -->",
            f"# {ctx.name}",
            "",
            f"Start scenarios from {ctx.name} events. Connect with an API key of your "
            f"account; {ctx.base_url} is called for you.",
            "",
            "An instant trigger subscribes its webhook when you add the webhook in the "
            "module, and unsubscribes it when the webhook is deleted in Make; a polling "
            f"trigger reads the {MAX_POLL} most recent events at each run and starts from "
            "the event you choose.",
            "",
            "| Module | Kind | Outputs |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )


def _label(key: str) -> str:
    """`device_info` -> `Device info`, `imageId` -> `Image ID`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", re.sub(r"[_\-.\s]+", " ", key))
    words = [w.upper() if w.lower() in _ACRONYMS else w.lower() for w in spaced.split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else key


def _kebab(local_id: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", local_id).lower()


def _fit(local_id: str, limit: int, name: str) -> str:
    """`local_id` cut to `limit` characters, a hash of `name` keeping cut ids apart."""
    if len(local_id) <= limit:
        return local_id
    return local_id[: limit - 8] + hashlib.sha256(name.encode()).hexdigest()[:8]


def _json(value: Any) -> str:
    return json.dumps(value, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def _iml(value: Any) -> str:
    return f"// {GENERATED_BY}\n{_json(value)}"
