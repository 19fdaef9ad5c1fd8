"""Zapier: a Zapier Platform CLI app (`package.json`, `index.js`) with one REST-hook trigger
per event type of the catalog, which `npm install` and `zapier-platform push` turn into a
private Zapier integration (docs/platforms/zapier.md).

`index.js` is data plus a fixed runtime. The data (the base URL, the API-key field and one
definition per trigger: key, noun, display, the static `sample` and `outputFields`) is
written with `json.dumps`; the runtime, `RUNTIME` below, is the same JavaScript for every
catalog and turns each definition into a trigger whose `performSubscribe` posts
`{event, hookUrl, platform: "zapier"}` to `/v1/hooks`, `performUnsubscribe` deletes that
hook, `perform` returns the delivered body as a one-item list, and `performList` reads
`/v1/event-types/{name}/samples`.

This module never splices catalog text into JavaScript except as JSON, never reads the
network, the environment or the clock (the sample's timestamp is fixed), and never emits
bytes that depend on anything but the catalog, the base URL and the name: the same inputs
give the same files. It never writes files itself (`export` does).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..catalog import Catalog
from ..events.samples import output_fields, sample_envelope
from .context import GENERATED_BY, ExportContext

# The zapier-platform-core release the app pins; tests/node/zapier installs the same one.
CORE_VERSION = "19.1.0"
APP_VERSION = "1.0.0"
# The samples' `timestamp`: fixed, so two exports of one catalog are byte-identical.
SAMPLE_TIME = 1767225600.0  # 2026-01-01T00:00:00Z
SAMPLES_LIMIT = 3
API_KEY = "api_key"

# hookkit's output-field types → Zapier's (arrays become `list: true`; the rest is text).
_FIELD_TYPES = {
    "string": "string",
    "datetime": "datetime",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
}
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]+")  # Zapier's KeySchema: a letter, then 1+ more

RUNTIME = """\
// The runtime below is the same for every catalog; only the data above changes.

const addApiKey = (request, z, bundle) => {
  const key = bundle.authData[API_KEY_FIELD.key];
  request.headers = { ...request.headers, Authorization: `Bearer ${key}` };
  return request;
};

// The operations of the REST-hook trigger of `event`; every trigger gets its own functions.
const hookOperations = (event) => ({
  // Zapier keeps the hook this returns (with its `id` and `secret`) as bundle.subscribeData
  // and hands it to performUnsubscribe when the Zap is turned off.
  performSubscribe: async (z, bundle) => {
    const response = await z.request({
      method: 'POST',
      url: `${BASE_URL}/v1/hooks`,
      body: { event, hookUrl: bundle.targetUrl, platform: 'zapier' },
    });
    return response.data;
  },
  performUnsubscribe: async (z, bundle) => {
    const { id } = bundle.subscribeData;
    await z.request({ method: 'DELETE', url: `${BASE_URL}/v1/hooks/${encodeURIComponent(id)}` });
    return { id };
  },
  // A delivery's body is the item: the envelope {id, type, timestamp, data}.
  perform: async (z, bundle) => [bundle.cleanedRequest],
  // Bodies exactly as a hook receives them: recent real events, else the catalog sample.
  performList: async (z, bundle) => {
    const response = await z.request({
      url: `${BASE_URL}/v1/event-types/${encodeURIComponent(event)}/samples`,
      params: { limit: SAMPLES_LIMIT },
    });
    return response.data;
  },
});

// A definition of TRIGGERS as Zapier's trigger: `event` becomes the operations' target.
const trigger = ({ event, operation, ...definition }) => ({
  ...definition,
  operation: { type: 'hook', ...hookOperations(event), ...operation },
});

module.exports = {
  version: require('./package.json').version,
  platformVersion: require('zapier-platform-core').version,
  authentication: {
    type: 'custom',
    fields: [API_KEY_FIELD],
    test: { url: `${BASE_URL}/v1/account` },
    connectionLabel: '{{bundle.inputData.name}}',
  },
  beforeRequest: [addApiKey],
  triggers: Object.fromEntries(TRIGGERS.map((definition) => [definition.key, trigger(definition)])),
};
"""


def files(ctx: ExportContext) -> dict[str, str]:
    """`package.json` and `index.js` of the Zapier app for `ctx`'s catalog.

    Raises `ValueError` when the base URL is not http(s), two event types would get the
    same trigger key, or a sample has a `__proto__` key.
    """
    if not ctx.base_url.startswith(("https://", "http://")):
        raise ValueError(f"export zapier needs an http(s) --base-url, not {ctx.base_url!r}")
    return {"package.json": package_json(ctx), "index.js": index_js(ctx)}


def package_json(ctx: ExportContext) -> str:
    """The npm manifest: the app's name and version, core pinned, the generated-by field."""
    manifest = {
        "name": ctx.slug,
        "version": APP_VERSION,
        "description": f"Zapier triggers for the events of {ctx.name}",
        "generatedBy": GENERATED_BY,
        "private": True,
        "main": "index.js",
        "dependencies": {"zapier-platform-core": CORE_VERSION},
    }
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def index_js(ctx: ExportContext) -> str:
    """The app: the generated-by line, the data as JSON constants, then `RUNTIME`."""
    field = {
        "key": API_KEY,
        "label": "API Key",
        "type": "password",
        "required": True,
        "helpText": f"The API key of your {ctx.name} account.",
    }
    constants = [
        ("BASE_URL", ctx.base_url),
        ("SAMPLES_LIMIT", SAMPLES_LIMIT),
        ("API_KEY_FIELD", field),
        ("TRIGGERS", trigger_definitions(ctx.catalog)),
    ]
    lines = [f"// {GENERATED_BY}", "'use strict';", ""]
    lines += [f"const {name} = {_js_value(value)};" for name, value in constants]
    return "\n".join(lines) + "\n\n" + RUNTIME


def trigger_definitions(catalog: Catalog) -> list[dict[str, Any]]:
    """One trigger definition per event type, by name: Zapier's trigger fields, plus the
    `event` it subscribes to (the runtime takes that out)."""
    definitions: list[dict[str, Any]] = []
    owners: dict[str, str] = {}
    for name in catalog.names():
        key = trigger_key(name)
        if key in owners:
            raise ValueError(
                f"event types {owners[key]!r} and {name!r} both become Zapier trigger {key!r}"
            )
        owners[key] = name
        event_type = catalog.get(name)
        title = _fit(event_type.title.strip() or name, 2, 64)
        fallback = f"Triggers when a {title} event is sent."
        definitions.append(
            {
                "key": key,
                "noun": _fit(event_type.title.strip() or name, 2, 255),
                "display": {
                    "label": title,
                    "description": _fit(event_type.description.strip() or fallback, 1, 1000),
                },
                "event": name,
                "operation": {
                    "sample": sample_envelope(catalog, name, SAMPLE_TIME),
                    "outputFields": [
                        zapier_field(field) for field in output_fields(catalog, name, SAMPLE_TIME)
                    ],
                },
            }
        )
    return definitions


def trigger_key(event_type: str) -> str:
    """Zapier's key for an event type: `render.completed` → `render_completed`; names that
    do not start with a letter (or are too short) get an `on_` prefix."""
    key = re.sub(r"[^A-Za-z0-9]+", "_", event_type).strip("_")
    if not _KEY.fullmatch(key):
        key = f"on_{key}" if key else "on_event"
    return key


def zapier_field(field: dict[str, str]) -> dict[str, Any]:
    """A catalog output field (`key` with `__` for nesting, `label`, `type`) as Zapier's."""
    out: dict[str, Any] = {"key": field["key"], "label": field["label"]}
    if field["type"] == "array":
        out["list"] = True
    else:
        out["type"] = _FIELD_TYPES.get(field["type"], "string")
    return out


def _fit(text: str, low: int, high: int) -> str:
    """`text` within Zapier's length limits: padded with " event" or cut with an ellipsis."""
    if len(text) < low:
        text = f"{text} event".strip()
    return text if len(text) <= high else text[: high - 1].rstrip() + "…"


def _js_value(value: Any) -> str:
    """`value` as a JavaScript literal: JSON, which is valid JavaScript since ES2019.

    Refuses a `__proto__` key: in an object literal it would set the prototype, not a key.
    """
    _refuse_proto(value)
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _refuse_proto(value: Any) -> None:
    if isinstance(value, dict):
        if "__proto__" in value:
            raise ValueError("a catalog sample or schema has a '__proto__' key")
        for inner in value.values():
            _refuse_proto(inner)
    elif isinstance(value, list):
        for inner in value:
            _refuse_proto(inner)
