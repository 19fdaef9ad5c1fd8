"""Replays an exported Make custom app against a live hookkit, as Make would run it.

A small interpreter for exactly the subset of Make's IML and request directives the
exporter writes: `{{a.b.c}}` paths (a string that is one expression keeps the value's JSON
type, any other string interpolates text), the base merged under modules and webhook RPCs,
`url`/`method`/`qs`/`headers`/`body`, and the response directives `error`, `metadata`,
`data`, `iterate`, `limit`, `output` and `trigger`; the epoch is merged over its trigger's
communication. Anything else (another directive, a function call, an unknown variable)
raises `Unsupported`, so a generated file using more than this fails its test instead of
passing unread. Requests go to 127.0.0.1 only.

What Make itself does around the codes is modelled from its documentation: connections do
not inherit the base; `response.data` of `attach` becomes the `webhook` variable of
`detach`; a polling trigger with `order: desc` keeps the items after the last one it
processed (by `date`, then `id`) and hands on at most `limit` of them, oldest first.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

_EXPRESSION = re.compile(r"\{\{(.*?)\}\}")
_PATH = re.compile(r"[A-Za-z_]\w*(?:\.\w+)*")
_REQUEST_KEYS = {"url", "method", "qs", "headers", "body", "response", "log"}
_RESPONSE_KEYS = {"error", "metadata", "data", "iterate", "limit", "output", "trigger"}
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


class Unsupported(Exception):
    """The app uses IML or a directive this interpreter does not know."""


class MakeError(Exception):
    """A failed request, with the message Make would show (`response.error.message`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def load_jsonc(text: str) -> Any:
    """JSON with `//` and `/* */` comments outside strings, as Make's code editor takes it."""
    out, i, in_string = [], 0, False
    while i < len(text):
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\":
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        else:
            in_string = ch == '"'
            out.append(ch)
        i += 1
    return json.loads("".join(out))


def evaluate(template: Any, scope: dict[str, Any]) -> Any:
    """`template` with every `{{path}}` replaced from `scope`, recursively."""
    if isinstance(template, dict):
        return {key: evaluate(value, scope) for key, value in template.items()}
    if isinstance(template, list):
        return [evaluate(value, scope) for value in template]
    if not isinstance(template, str):
        return template
    whole = _EXPRESSION.fullmatch(template)
    if whole:
        return _lookup(whole.group(1), scope)
    return _EXPRESSION.sub(lambda m: _text(_lookup(m.group(1), scope)), template)


def _lookup(expression: str, scope: dict[str, Any]) -> Any:
    expression = expression.strip()
    if not _PATH.fullmatch(expression):
        raise Unsupported(f"IML expression {expression!r} is more than a path")
    root, *keys = expression.split(".")
    if root not in scope:
        raise Unsupported(f"IML variable {root!r} is not available here ({sorted(scope)})")
    value = scope[root]
    for key in keys:  # like Make, a missing key is empty, not an error
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def deep_merge(under: Any, over: Any) -> Any:
    """`over` merged onto `under`: objects key by key, anything else replaced."""
    if isinstance(under, dict) and isinstance(over, dict):
        return {**under, **{k: deep_merge(under.get(k), v) for k, v in over.items()}}
    return over


@dataclass
class Bundle:
    """One item a module outputs, with its trigger key when the module is a trigger."""

    output: Any
    trigger: dict[str, Any] | None = None


@dataclass
class Result:
    status: int
    body: Any
    bundles: list[Bundle] = field(default_factory=list)
    data: Any = None
    metadata: Any = None
    limit: int | None = None
    sent: dict[str, Any] = field(default_factory=dict)  # the request as it went out


class MakeApp:
    """An exported app read from disk (`makecomapp.json` and the files it names)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = json.loads((root / "makecomapp.json").read_text(encoding="utf-8"))
        self.base = self._file(self.manifest["generalCodeFiles"]["base"])

    def _file(self, relative: str) -> Any:
        return load_jsonc((self.root / relative).read_text(encoding="utf-8"))

    def component(self, kind: str, local_id: str) -> dict[str, Any]:
        return self.manifest["components"][kind][local_id]  # type: ignore[no-any-return]

    def code(self, kind: str, local_id: str, code: str) -> Any:
        return self._file(self.component(kind, local_id)["codeFiles"][code])

    # -- requests ------------------------------------------------------------------------

    def call(self, spec: dict[str, Any], scope: dict[str, Any], *, base: bool = True) -> Result:
        """Run one request of the app as Make would, raising `MakeError` on a non-2xx."""
        if set(spec) - _REQUEST_KEYS or set(spec.get("response", {})) - _RESPONSE_KEYS:
            raise Unsupported(f"directives beyond this interpreter: {sorted(spec)}")
        inherited = self.base if base else {}
        url = evaluate(spec["url"], scope)
        if url.startswith("/"):
            url = evaluate(inherited["baseUrl"], scope) + url
        if urlsplit(url).hostname != "127.0.0.1":
            raise AssertionError(f"replayed traffic must stay on 127.0.0.1, not {url}")
        method = spec.get("method", "GET")
        if method not in _METHODS:
            raise Unsupported(f"method {method!r}")
        headers = {**evaluate(inherited.get("headers", {}), scope)}
        headers.update(evaluate(spec.get("headers", {}), scope))
        qs = evaluate(spec.get("qs", {}), scope)
        body = evaluate(spec["body"], scope) if "body" in spec else None
        answer = requests.request(
            method, url, params=qs, json=body, headers=headers, timeout=10, allow_redirects=False
        )
        parsed = answer.json() if answer.content else None
        directives = {**inherited.get("response", {}), **spec.get("response", {})}
        here = {
            **scope,
            "body": parsed,
            "statusCode": answer.status_code,
            "headers": answer.headers,
        }
        sent = {"method": method, "url": url, "qs": qs, "headers": headers, "body": body}
        if not 200 <= answer.status_code < 300:
            error = directives.get("error", {"message": "request failed"})
            message = error if isinstance(error, str) else error["message"]
            raise MakeError(answer.status_code, _text(evaluate(message, here)))
        result = Result(answer.status_code, parsed, sent=sent)
        result.data = evaluate(directives.get("data"), here)
        result.metadata = evaluate(directives.get("metadata"), here)
        if "limit" in directives:
            result.limit = int(evaluate(directives["limit"], here))
        if "iterate" in directives:
            container = evaluate(directives["iterate"], here)
            if not isinstance(container, list):
                raise MakeError(answer.status_code, f"iterate gave {type(container).__name__}")
            for item in container:
                each = {**here, "item": item}
                output = evaluate(directives.get("output", "{{item}}"), each)
                trigger = evaluate(directives["trigger"], each) if "trigger" in directives else None
                result.bundles.append(Bundle(output, trigger))
        else:
            result.bundles.append(Bundle(evaluate(directives.get("output", "{{body}}"), here)))
        return result

    # -- what Make does with the components ----------------------------------------------

    def test_connection(self, connection_id: str, parameters: dict[str, Any]) -> Result:
        """The connection's own request: full URL, its parameters, no base."""
        spec = self.code("connection", connection_id, "communication")
        return self.call(spec, {"parameters": parameters}, base=False)

    def attach(self, hook_id: str, url: str, connection: dict[str, Any]) -> Any:
        """Register a new webhook URL; what `response.data` keeps for `detach`."""
        webhook = {"id": "make-internal-webhook-1", "url": url}  # Make's own id and URL
        scope = {"connection": connection, "parameters": {}, "webhook": webhook}
        return self.call(self.code("webhook", hook_id, "attach"), scope).data

    def detach(self, hook_id: str, data: Any, connection: dict[str, Any]) -> Result:
        scope = {"connection": connection, "parameters": {}, "webhook": data}
        return self.call(self.code("webhook", hook_id, "detach"), scope)

    def incoming(self, hook_id: str, body: Any, headers: dict[str, str]) -> Any:
        """The bundle a webhook makes of one request it receives."""
        communication = self.code("webhook", hook_id, "communication")
        if set(communication) - {"output"}:
            raise Unsupported(f"webhook directives {sorted(communication)}")
        return evaluate(communication.get("output", "{{body}}"), {"body": body, "headers": headers})

    def epoch(self, module_id: str, scope: dict[str, Any]) -> list[Bundle]:
        """The 'Choose where to start' list: the epoch merged over the communication."""
        merged = deep_merge(
            self.code("module", module_id, "communication"),
            self.code("module", module_id, "epoch"),
        )
        result = self.call(merged, scope)
        return result.bundles[: result.limit]

    def poll(
        self, module_id: str, scope: dict[str, Any], state: tuple[Any, ...] | None
    ) -> tuple[list[Bundle], tuple[Any, ...] | None]:
        """One run of a polling trigger from `state` (the last processed item's key, None
        for 'All'): the new bundles, oldest first, and the state after them."""
        result = self.call(self.code("module", module_id, "communication"), scope)
        keyed = [(trigger_key(bundle.trigger), bundle) for bundle in result.bundles]
        firsts = [key[0] for key, _ in keyed]  # `order: desc` promises this much
        if firsts != sorted(firsts, reverse=True) or len({k for k, _ in keyed}) != len(keyed):
            raise AssertionError(f"items are not newest first, or repeat: {firsts}")
        fresh = sorted((kb for kb in keyed if state is None or kb[0] > state), key=lambda kb: kb[0])
        fresh = fresh[: result.limit]
        return [b for _, b in fresh], (fresh[-1][0] if fresh else state)


def trigger_key(trigger: dict[str, Any] | None) -> tuple[Any, ...]:
    """How a trigger orders items: `(date, id)` for a date trigger, `(id,)` for an id one."""
    if trigger is None or trigger.get("order") != "desc":
        raise Unsupported(f"trigger {trigger!r}: only order desc is replayed")
    if trigger["type"] == "date":
        return (datetime.fromisoformat(trigger["date"]), trigger["id"])
    if trigger["type"] == "id":
        return (trigger["id"],)
    raise Unsupported(f"trigger type {trigger['type']!r}")


# -- interfaces --------------------------------------------------------------------------


def mismatches(value: Any, interface: list[dict[str, Any]], path: str = "$") -> list[str]:
    """Every way `value` misses the interface: a declared field absent, or of another type."""
    if not isinstance(value, dict):
        return [f"{path}: expected a collection, got {type(value).__name__}"]
    found = []
    for param in interface:
        where = f"{path}.{param['name']}"
        if param["name"] not in value:
            found.append(f"{where}: missing")
        else:
            found += _typed(value[param["name"]], param, where)
    return found


def _typed(value: Any, param: dict[str, Any], path: str) -> list[str]:
    kind, spec = param["type"], param.get("spec")
    if kind == "collection":
        if not isinstance(value, dict):
            return [f"{path}: expected a collection, got {value!r}"]
        return mismatches(value, spec, path) if spec is not None else []
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {value!r}"]
        item = {"type": "collection", "spec": spec} if isinstance(spec, list) else spec
        if item is None:
            return []
        return [m for i, v in enumerate(value) for m in _typed(v, item, f"{path}[{i}]")]
    if kind not in _CHECKS:
        raise Unsupported(f"interface type {kind!r}")
    return [] if _CHECKS[kind](value) else [f"{path}: {value!r} is not {kind}"]


def _is_date(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(datetime.fromisoformat(value))
    except ValueError:
        return False


def _is_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(uuid.UUID(value))
    except ValueError:
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_CHECKS = {
    "any": lambda v: True,
    "text": lambda v: isinstance(v, str),
    "url": lambda v: isinstance(v, str) and urlsplit(v).scheme in ("http", "https"),
    "email": lambda v: isinstance(v, str) and "@" in v,
    "uuid": _is_uuid,
    "date": _is_date,
    "boolean": lambda v: isinstance(v, bool),
    "integer": _is_int,
    "uinteger": lambda v: _is_int(v) and v >= 0,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}
