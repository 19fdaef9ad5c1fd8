"""Power Automate: a custom-connector folder, `apiDefinition.swagger.json` (the Swagger 2.0
document, whose subscribe operation is the flow trigger) and `apiProperties.json` (the
API-key connection parameter), the two files `paconn create` and the maker portal import.
JSON holds no comments, so the generated-by line is the document's `x-generated-by`.

The trigger is shaped for Power Automate: its body keeps only the event type the maker picks
and the callback URL Power Automate fills (options that reshape deliveries, such as a
mapping or form bodies, would break the notification contract), and the notification schema
sits on the path, beside the operation, where Power Automate reads it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .context import GENERATED_BY, ExportContext


def files(ctx: ExportContext) -> dict[str, str]:
    """The connector folder by file name."""
    definition: dict[str, Any] = copy.deepcopy(ctx.swagger)
    definition["info"]["title"] = ctx.name
    definition["x-generated-by"] = GENERATED_BY
    _shape_trigger(definition, ctx.name)
    properties = {
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "API key",
                        "description": f"Your {ctx.name} API key",
                        "tooltip": "Create one with: python -m connector keys create ACCOUNT",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                }
            },
            "iconBrandColor": "#0f6cbd",
            "capabilities": [],
            "publisher": ctx.name,
            "stackOwner": ctx.name,
        }
    }
    return {
        "apiDefinition.swagger.json": _json(definition),
        "apiProperties.json": _json(properties),
    }


def _shape_trigger(definition: dict[str, Any], name: str) -> None:
    """Reshape the one `x-ms-trigger` operation in place (see the module's docstring)."""
    triggers = [
        (item, operation)
        for item in definition["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "x-ms-trigger" in operation
    ]
    if len(triggers) != 1:
        raise ValueError(f"Power Automate needs one webhook trigger, found {len(triggers)}")
    ((_item, operation),) = triggers
    operation["summary"] = f"When an event happens in {name}"
    operation["description"] = "Starts the flow each time an event of the chosen type happens."
    operation["x-ms-trigger-hint"] = "To see it work now, publish an event of the chosen type."
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "body":
            continue
        schema = parameter["schema"]
        kept = {
            key: value
            for key, value in schema.get("properties", {}).items()
            if key == "event" or value.get("x-ms-notification-url")
        }
        required = [key for key in schema.get("required", []) if key in kept]
        parameter["schema"] = {**schema, "properties": kept, "required": required}


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
