"""Mappings, filters and expiry: which events reach a hook, and in what shape.

Through the HTTP API with real receivers on 127.0.0.1: the body a receiver gets, the samples
endpoint, test sends and previews must all agree, and bad expressions are refused with the
parser's own message and position. Property tests feed schema-valid data generated from
every catalog schema through mappings and filters, which must never raise.
"""

from __future__ import annotations

import copy
import inspect
import json
import types
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as conjecture_utils
from hypothesis_jsonschema import _from_schema, from_schema

from connector.clock import ManualClock
from connector.wire.body import BodySpec, render
from connector.wire.envelope import envelope
from connector.wire.mapping import MappingFailed, apply_mapping, compile_expression, passes

from .conftest import _key, publish, shipped_catalog, subscribe, wait_until

CATALOG = shipped_catalog()

# The custom payload of seed 003 ("email", "campaign_name" mapped, "source" a static value),
# on the competition_win event: the competition's prize names the campaign.
SEED_003 = {
    "mapping": "{email: data.winner.value, campaign_name: data.prize.name}",
    "custom_values": {"source": "webhook"},
}
SEED_003_BODY = {"email": "guest@example.com", "campaign_name": "Free Coffee", "source": "webhook"}
DROP = object()  # in a data patch: remove the field


def sample(name: str) -> dict[str, Any]:
    return copy.deepcopy(CATALOG.get(name).sample)


def patched(name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The sample of `name` with dotted-path fields set (or removed, for `DROP`)."""
    data = sample(name)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        if value is DROP:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def deliver(client, auth, receiver, event: str, data: Any = None, **hook: Any):
    """Subscribe `receiver` to `event` with `hook`'s fields and publish: hook, event, request."""
    created = subscribe(client, auth, receiver.url, event=event, **hook)
    published = publish(client, auth, sample(event) if data is None else data, type=event)
    assert published["deliveries"] == 1
    (request,) = receiver.wait_for(1)
    return created, published, request


def log_of(client, auth, hook_id: str) -> dict[str, Any]:
    return client.get(f"/v1/hooks/{hook_id}/deliveries", headers=auth).json


# -- mapping: the delivered body ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "hook", "expected"),
    [
        ("competition_win", SEED_003, SEED_003_BODY),
        (
            "competition_win",
            {"mapping": "{email: data.winner.value, prize: data.prize.name, source: 'webhook'}"},
            {"email": "guest@example.com", "prize": "Free Coffee", "source": "webhook"},
        ),
        (
            "competition_win",
            {**SEED_003, "mapping": "{source: 'mapping', " + SEED_003["mapping"][1:]},
            SEED_003_BODY,  # a custom value wins over a mapped key of the same name
        ),
        (
            "render.completed",
            {
                "mapping": "{image: data.url, template: data.templateId, "
                "size: join('x', [to_string(data.width), to_string(data.height)])}"
            },
            {
                "image": "https://cdn.pictify.io/renders/abc123.png",
                "template": "tmpl_xyz789",
                "size": "1200x630",
            },
        ),
        (
            "survey",
            {
                "mapping": "{answers: data.survey.data_capture.sections[].fields[]"
                ".{question: field_title, answer: value}}"
            },
            {
                "answers": [
                    {"question": "How was your experience?", "answer": "5"},
                    {"question": "Any comments?", "answer": "Had a great time!"},
                ]
            },
        ),
        (
            "batch.completed",
            {"mapping": "{batch: data.batchId, ok: data.failedCount == `0`}"},
            {"batch": "batch_abc123", "ok": False},
        ),
    ],
)
def test_mapping_and_custom_values_shape_the_delivered_body(
    client, auth, receiver, event, hook, expected
):
    """The receiver gets the mapping's result over the envelope with custom values merged in."""
    _, _, request = deliver(client, auth, receiver, event, **hook)
    assert request.json() == expected


def test_custom_values_without_a_mapping_join_the_envelope(client, auth, receiver):
    """With custom values but no mapping the envelope arrives whole, plus the static fields."""
    custom = {"source": "webhook", "campaign": {"name": "Summer Promotion"}}
    _, published, request = deliver(client, auth, receiver, "share", custom_values=custom)
    body = request.json()
    assert list(body) == ["id", "type", "timestamp", "data", "source", "campaign"]
    assert body["id"] == published["id"] and body["data"] == sample("share")
    assert body["campaign"] == {"name": "Summer Promotion"}


def test_mapping_that_fails_on_a_real_event_records_an_error_and_sends_nothing(
    client, auth, receiver
):
    """A render without `variables` cannot become a body: the attempt says why; nothing is sent."""
    hook = subscribe(client, auth, receiver.url, event="render.completed", mapping="data.variables")
    broken = publish(
        client, auth, patched("render.completed", {"variables": DROP}), type=hook["event"]
    )
    fine = publish(client, auth, sample("render.completed"), type=hook["event"])
    assert broken["deliveries"] == fine["deliveries"] == 1

    (request,) = receiver.wait_for(1)
    assert request.json() == {"title": "Hello World"}

    def failed():
        found = client.get(f"/v1/hooks/{hook['id']}/deliveries?status=failed", headers=auth).json
        return found["deliveries"]

    (delivery,) = wait_until(failed)
    assert delivery["event_id"] == broken["id"]
    assert {a["response_code"] for a in delivery["attempts"]} == {None}
    assert "mapping must produce a JSON object, got null" in delivery["attempts"][0]["error"]
    assert len(receiver.requests) == 1


# -- bad expressions are refused ---------------------------------------------------------------

INVALID = [
    # field, expression, words of the message, position (None: it parses but fails)
    ("mapping", "{email: data.winner.value", "incomplete expression", 25),
    ("mapping", "{email data.winner.value}", "expecting: colon", 7),
    ("mapping", "{email: data.winner.value,}", "got: rbrace", 26),
    ("mapping", "data.winner.value$", "unknown token $", 17),
    ("mapping", "data.'prize", "unclosed ' delimiter", 5),
    ("mapping", "data.prize.name", "got a string for the sample of", None),
    ("mapping", "{email: lower(data.winner.value)}", "unknown function: lower()", None),
    ("mapping", "{later: &data}", "expression reference", None),
    ("mapping", "{sections: data.data_capture.sections[::0]}", "step cannot be zero", None),
    ("filter", "data.width >", "incomplete expression", 12),
    ("filter", "starts_with(data.templateId)", "expected 2 arguments", None),
]


def _refused(response, path: str, words: str, position: int | None) -> None:
    """A 422 at `path` with `words` in its message, and the parser's position if it has one."""
    assert response.status_code == 422, response.json
    problem = response.json
    assert response.mimetype == "application/problem+json"
    assert [e["path"] for e in problem["errors"]] == [path]
    assert words in problem["errors"][0]["message"].lower()
    if position is None:
        assert problem["code"] == f"{path.rsplit('.', 1)[1]}_invalid"
    else:
        assert problem["position"] == position
        assert problem["expression"].splitlines()[1] == " " * position + "^"


@pytest.mark.parametrize(("field", "expression", "words", "position"), INVALID)
def test_bad_expressions_are_refused_at_subscribe(client, auth, field, expression, words, position):
    """Subscribing with a bad mapping or filter is a 422 naming the field, message and place."""
    body = {"event": "competition_win", "url": "http://127.0.0.1:9/x", field: expression}
    if field == "filter":
        body["event"] = "render.completed"
    _refused(client.post("/v1/hooks", json=body, headers=auth), f"$.{field}", words, position)


@pytest.mark.parametrize(("field", "expression", "words", "position"), INVALID)
def test_bad_expressions_are_refused_at_update(client, auth, field, expression, words, position):
    """PATCHing in a bad mapping or filter is refused the same way; the hook keeps its old one."""
    event = "render.completed" if field == "filter" else "competition_win"
    hook = subscribe(client, auth, "http://127.0.0.1:9/x", event=event, **{field: "data"})
    path = f"/v1/hooks/{hook['id']}"
    response = client.patch(path, json={field: expression}, headers=auth)
    _refused(response, f"$.{field}", words, position)
    assert client.get(path, headers=auth).json[field] == "data"


def test_changing_events_rechecks_the_mapping(client, auth):
    """A mapping valid for one event type is refused when the hook moves to one it cannot map."""
    hook = subscribe(
        client, auth, "http://127.0.0.1:9/x", event="competition_win", mapping="data.prize"
    )
    path = f"/v1/hooks/{hook['id']}"
    moved = client.patch(path, json={"event": "batch.completed"}, headers=auth)
    _refused(moved, "$.mapping", "got null for the sample of 'batch.completed'", None)
    assert client.get(path, headers=auth).json["events"] == ["competition_win"]


# -- filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "hook", "changes", "expected"),
    [
        # seed 004: filter by template
        (
            "render.completed",
            {"filters": {"templateId": "tmpl_abc123"}},
            {"templateId": "tmpl_abc123"},
            1,
        ),
        ("render.completed", {"filters": {"templateId": "tmpl_abc123"}}, {}, 0),
        # seed 002/004: filter by type, together with the template
        ("render.completed", {"filters": {"templateId": "tmpl_xyz789", "type": "image"}}, {}, 1),
        (
            "render.completed",
            {"filters": {"templateId": "tmpl_xyz789", "type": "image"}},
            {"type": "gif"},
            0,
        ),
        # dotted keys reach nested data
        ("session", {"filters": {"session.type": "gif"}}, {"session.type": "gif"}, 1),
        ("session", {"filters": {"session.type": "gif"}}, {}, 0),
        ("session", {"filters": {"session.device.id": 42}}, {}, 1),
        # JSON equality: true is not 1
        ("competition_win", {"filters": {"prize_win.valid": True}}, {}, 1),
        ("competition_win", {"filters": {"prize_win.valid": 1}}, {}, 0),
        # null matches a missing field
        ("render.completed", {"filters": {"userStorageUrl": None}}, {"userStorageUrl": DROP}, 1),
        # JMESPath filters
        ("render.completed", {"filter": "data.width > `1000`"}, {}, 1),
        ("render.completed", {"filter": "data.width > `1000`"}, {"width": 800}, 0),
        ("render.completed", {"filter": "data.width > `1000`", "filters": {"type": "pdf"}}, {}, 0),
        # JMESPath truthiness: 0 is true, an empty array is false
        ("batch.completed", {"filter": "data.failedCount"}, {"failedCount": 0}, 1),
        ("competition_win", {"filter": "data.data_capture.sections"}, {}, 0),
        ("share", {"filter": "data.data_capture.sections"}, {}, 1),
        # an expression that errors on this event's data does not pass: no such field, text
        # where a number was expected, a number too large to round
        (
            "render.completed",
            {"filter": "data.variables.copies >= `3`"},
            {"variables.copies": 5},
            1,
        ),
        (
            "render.completed",
            {"filter": "data.variables.copies >= `3`"},
            {"variables.copies": "5"},
            0,
        ),
        (
            "render.completed",
            {"filter": "ceil(to_number(data.variables.scale || '1')) > `1`"},
            {"variables.scale": "1e999"},
            0,
        ),
        ("render.completed", {"filter": "length(data.variables) > `0`"}, {}, 1),
        ("render.completed", {"filter": "length(data.variables) > `0`"}, {"variables": DROP}, 0),
    ],
)
def test_filters_decide_which_events_create_deliveries(
    client, auth, receiver, event, hook, changes, expected
):
    """An event that fails a hook's `filters` or `filter` creates no delivery for it."""
    created = subscribe(client, auth, receiver.url, event=event, **hook)
    published = publish(client, auth, patched(event, changes), type=event)
    assert published["deliveries"] == expected
    assert log_of(client, auth, created["id"])["pagination"]["total"] == expected
    if expected:
        (request,) = receiver.wait_for(1)
        assert request.json()["id"] == published["id"]


def test_filters_apply_per_hook(client, auth, receiver):
    """Of two hooks on one event, only the one whose filter matches receives it."""
    render = "render.completed"
    blog = subscribe(
        client, auth, receiver.url + "/blog", event=render, filters={"templateId": "tmpl_blog"}
    )
    other = subscribe(
        client, auth, receiver.url + "/other", event=render, filters={"templateId": "tmpl_xyz789"}
    )
    assert publish(client, auth, sample(render), type=render)["deliveries"] == 1
    (request,) = receiver.wait_for(1)
    assert request.path == "/other"
    assert log_of(client, auth, blog["id"])["pagination"]["total"] == 0
    assert log_of(client, auth, other["id"])["pagination"]["total"] == 1


# -- the same body everywhere ------------------------------------------------------------------


@pytest.mark.parametrize(
    "hook",
    [
        {},
        {"custom_values": {"source": "webhook"}},
        SEED_003,
        {"mapping": "{id: id, at: timestamp, winner: data.winner}"},
    ],
)
def test_samples_for_a_hook_equal_what_it_received(client, auth, receiver, hook):
    """`samples?hook_id=` gives exactly the body, key order included, a real delivery carried."""
    created, _, request = deliver(client, auth, receiver, "competition_win", **hook)
    shown = client.get(
        f"/v1/event-types/competition_win/samples?hook_id={created['id']}&limit=1", headers=auth
    )
    assert shown.status_code == 200
    (body,) = shown.json
    assert body == request.json()
    assert list(body) == list(request.json())


def test_test_send_delivers_the_previewed_sample(client, auth, receiver):
    """A test send carries the same mapped body the samples endpoint previews for the hook."""
    hook = subscribe(client, auth, receiver.url, event="competition_win", **SEED_003)
    previewed = client.get(
        f"/v1/event-types/competition_win/samples?hook_id={hook['id']}", headers=auth
    ).json
    sent = client.post(f"/v1/hooks/{hook['id']}/test", headers=auth)
    assert sent.status_code == 200
    assert sent.json["attempts"][0]["response_code"] == 200
    (request,) = receiver.wait_for(1)
    assert previewed == [request.json()] == [SEED_003_BODY]


def test_samples_leave_out_events_the_hook_would_not_get(client, auth, receiver):
    """A hook's filters and failing mapping leave events out of its samples, as out of delivery."""
    render = "render.completed"
    hook = subscribe(
        client,
        auth,
        receiver.url,
        event=render,
        filters={"type": "image"},
        mapping="data.variables",
    )
    kept = patched(render, {"variables": {"title": "Kept"}})
    publish(client, auth, kept, type=render)
    publish(client, auth, patched(render, {"type": "gif"}), type=render)
    publish(client, auth, patched(render, {"variables": DROP}), type=render)
    shown = client.get(f"/v1/event-types/{render}/samples?hook_id={hook['id']}", headers=auth)
    assert shown.json == [{"title": "Kept"}]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, [{"id": "evt_sample_competition_win"}]),
        (
            {"mapping": "{email: data.winner.value, prize: data.prize.name}"},
            [{"email": "guest@example.com", "prize": "Free Coffee"}],
        ),
    ],
)
def test_samples_preview_a_mapping_over_the_catalog_sample(client, auth, query, expected):
    """With no events yet, `samples?mapping=` maps the catalog sample."""
    shown = client.get("/v1/event-types/competition_win/samples", query_string=query, headers=auth)
    assert shown.status_code == 200
    assert [{k: body[k] for k in expected[0]} for body in shown.json] == expected


@pytest.mark.parametrize(
    ("mapping", "words", "position"),
    [
        ("{email: data.winner.value", "incomplete expression", 25),
        ("data.prize.name", "got a string", None),
    ],
)
@pytest.mark.parametrize(
    "resource", ["/v1/event-types/competition_win/samples", "/v1/event-types/competition_win"]
)
def test_bad_mapping_queries_are_refused(client, auth, resource, mapping, words, position):
    """A `mapping` query that does not parse or map the sample is a 422 at `$.query.mapping`."""
    response = client.get(resource, query_string={"mapping": mapping}, headers=auth)
    _refused(response, "$.query.mapping", words, position)


# -- preview -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"event_type": "competition_win", **SEED_003}, SEED_003_BODY),
        (
            {"data": {"order": {"id": 7, "total": 12.5}}, "mapping": "{order: data.order.id}"},
            {"order": 7},
        ),
        (
            {
                "event_type": "render.completed",
                "data": {"templateId": "t1"},
                "mapping": "{t: type}",
            },
            {"t": "render.completed"},
        ),
        (
            {"data": [1, 2], "mapping": "{n: length(data)}", "custom_values": {"k": 1}},
            {"n": 2, "k": 1},
        ),
    ],
)
def test_preview_returns_the_mapped_result(client, auth, body, expected):
    """`POST /v1/mappings/preview` maps the type's sample or the given data."""
    response = client.post("/v1/mappings/preview", json=body, headers=auth)
    assert response.status_code == 200, response.json
    assert response.json == {"result": expected}


def test_preview_without_a_mapping_is_the_envelope(client, auth):
    """Without a mapping the preview is the whole envelope plus the custom values."""
    body = {"event_type": "binding.failed", "custom_values": {"source": "webhook"}}
    result = client.post("/v1/mappings/preview", json=body, headers=auth).json["result"]
    assert list(result) == ["id", "type", "timestamp", "data", "source"]
    assert result["type"] == "binding.failed" and result["data"] == sample("binding.failed")


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        (
            {"event_type": "share", "mapping": "{email: data.share.value"},
            "$.mapping",
            "position 24",
        ),
        ({"event_type": "share", "mapping": "data.share.value"}, "$.mapping", "got a string"),
        (
            {"data": {"a": 1}, "mapping": "{a: abs(data.a, data.a)}"},
            "$.mapping",
            "expected 1 argument",
        ),
        (
            {"event_type": "share", "mapping": "(" * 2000 + "data" + ")" * 2000},
            "$.mapping",
            "nested too deeply",
        ),
        ({"event_type": "nope"}, "$.event_type", "unknown event type"),
        ({"mapping": "data"}, "$.event_type", "give an event_type"),
        ({"event_type": "share", "custom_values": ["x"]}, "$.custom_values", "not of type"),
    ],
)
def test_preview_refuses_what_cannot_be_mapped(client, auth, body, path, words):
    """A bad preview request is a 422 pointing at the field, with the parser's message."""
    response = client.post("/v1/mappings/preview", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json["errors"][0]["path"] == path
    assert words in response.json["errors"][0]["message"].lower()


# -- runaway expressions ----------------------------------------------------------------------

# Each step doubles the JSON: thirty of them would be gigabytes, built in a few calls.
DOUBLING = " | [@, @]" * 30
RUNAWAY = [
    "{x: data" + DOUBLING + "}",  # one value referenced twice per step
    "{x: [data]" + " | [@, @][]" * 30 + "}",  # a list really copied twice per step
    "{x: type" + " | join('', [@, @])" * 30 + "}",  # a string
    "{x: data" + " | [@, @]" * 16 + " | to_string(@)}",  # written out by one call
    "{x: [type]" + " | [@, @][]" * 12 + " | [*].to_string(@" + " | [@, @]" * 16 + ")}",  # by many
]
# Runs away only on events whose `variables` say so, not on the catalog sample.
ON_BOOM = "(data.variables.boom && (data" + DOUBLING + "))"


def _try_mapping(client, auth, where: str, mapping: str):
    """Send `mapping` where it is evaluated on the session sample: the response, the field."""
    if where == "subscribe":
        body = {"event": "session", "url": "http://127.0.0.1:9/x", "mapping": mapping}
        return client.post("/v1/hooks", json=body, headers=auth), "$.mapping"
    if where == "update":
        hook = subscribe(client, auth, "http://127.0.0.1:9/x")
        path = f"/v1/hooks/{hook['id']}"
        return client.patch(path, json={"mapping": mapping}, headers=auth), "$.mapping"
    if where == "preview":
        body = {"event_type": "session", "mapping": mapping}
        return client.post("/v1/mappings/preview", json=body, headers=auth), "$.mapping"
    query = {"mapping": mapping}
    shown = client.get("/v1/event-types/session/samples", query_string=query, headers=auth)
    return shown, "$.query.mapping"


@pytest.mark.parametrize("where", ["subscribe", "update", "preview", "samples"])
@pytest.mark.parametrize("mapping", RUNAWAY)
def test_mappings_that_run_away_are_refused(client, auth, where, mapping):
    """A mapping whose result outgrows the evaluation budget is a 422 `mapping_too_large`."""
    response, path = _try_mapping(client, auth, where, mapping)
    assert response.status_code == 422, response.json
    assert response.json["code"] == "mapping_too_large"
    assert [e["path"] for e in response.json["errors"]] == [path]
    assert "too large" in response.json["errors"][0]["message"]


def test_filters_that_run_away_are_refused(client, auth):
    """A filter that outgrows the evaluation budget on the sample is a 422 `filter_too_large`."""
    body = {"event": "session", "url": "http://127.0.0.1:9/x", "filter": "data" + DOUBLING}
    response = client.post("/v1/hooks", json=body, headers=auth)
    assert response.status_code == 422, response.json
    assert response.json["code"] == "filter_too_large"
    assert [e["path"] for e in response.json["errors"]] == ["$.filter"]


def test_a_filter_that_runs_away_on_an_event_does_not_pass_it(client, auth):
    """An event on which a hook's filter outgrows the budget creates no delivery for it."""
    render = "render.completed"
    hook = {"filter": f"{ON_BOOM} || data.width > `1000`"}
    subscribe(client, auth, "http://127.0.0.1:9/x", event=render, **hook)
    assert publish(client, auth, sample(render), type=render)["deliveries"] == 1
    boom = patched(render, {"variables.boom": True})
    assert publish(client, auth, boom, type=render)["deliveries"] == 0


def test_a_mapping_that_runs_away_on_an_event_fails_that_delivery_only(client, auth, receiver):
    """A mapping outgrowing the budget on one event records why and sends it not; others go."""
    render = "render.completed"
    mapping = f"{{x: {ON_BOOM} || data.variables.title}}"
    hook = subscribe(client, auth, receiver.url, event=render, mapping=mapping)
    boom = publish(client, auth, patched(render, {"variables.boom": True}), type=render)
    publish(client, auth, sample(render), type=render)

    (request,) = receiver.wait_for(1)
    assert request.json() == {"x": "Hello World"}

    def failed():
        found = client.get(f"/v1/hooks/{hook['id']}/deliveries?status=failed", headers=auth).json
        return found["deliveries"]

    (delivery,) = wait_until(failed)
    assert delivery["event_id"] == boom["id"]
    assert "too large" in delivery["attempts"][0]["error"]
    assert len(receiver.requests) == 1


# -- output fields -----------------------------------------------------------------------------


def test_output_fields_describe_the_delivered_envelope(client, auth):
    """Output fields are the envelope's, `data` flattened from the schema with `__`."""
    fields = client.get("/v1/event-types/render.completed", headers=auth).json["output_fields"]
    by_key = {f["key"]: f for f in fields}
    assert fields[:3] == [
        {"key": "id", "label": "ID", "type": "string"},
        {"key": "type", "label": "Type", "type": "string"},
        {"key": "timestamp", "label": "Timestamp", "type": "datetime"},
    ]
    assert by_key["data__templateId"] == {
        "key": "data__templateId",
        "label": "Data Template ID",
        "type": "string",
    }
    assert by_key["data__width"]["type"] == "integer"
    assert by_key["data__renderedAt"]["type"] == "datetime"
    assert by_key["data__userStorageUrl"]["type"] == "string"  # listed though optional


@pytest.mark.parametrize("name", CATALOG.names())
def test_output_fields_name_every_field_the_sample_delivers(client, auth, name):
    """Every leaf of a delivered sample body is one of the type's output fields."""
    fields = client.get(f"/v1/event-types/{name}", headers=auth).json["output_fields"]
    keys = {f["key"] for f in fields}
    delivered = client.get(f"/v1/event-types/{name}/samples", headers=auth).json[0]
    for key in _leaf_keys(delivered):
        assert key in keys or any(key.startswith(k + "__") for k in keys), key


def _leaf_keys(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict) and value:
        return [k for key, v in value.items() for k in _leaf_keys(v, f"{prefix}{key}__")]
    return [prefix[:-2]]


def test_output_fields_follow_a_mapping_query(client, auth):
    """With `?mapping=` the output fields are those of the mapped sample."""
    mapping = "{email: data.winner.value, prize: {name: data.prize.name, won: data.prize_win.date}}"
    query = {"mapping": mapping}
    fields = client.get("/v1/event-types/competition_win", query_string=query, headers=auth).json
    assert fields["output_fields"] == [
        {"key": "email", "label": "Email", "type": "string"},
        {"key": "prize__name", "label": "Prize Name", "type": "string"},
        {"key": "prize__won", "label": "Prize Won", "type": "datetime"},
    ]


def test_output_fields_follow_a_hooks_mapping_and_custom_values(client, auth):
    """With `?hook_id=` the output fields are those of the body that hook receives."""
    hook = subscribe(client, auth, "http://127.0.0.1:9/x", event="competition_win", **SEED_003)
    shown = client.get(f"/v1/event-types/competition_win?hook_id={hook['id']}", headers=auth)
    assert [f["key"] for f in shown.json["output_fields"]] == list(SEED_003_BODY)


# -- expiry ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expiration_date", "shown", "deliveries"),
    [
        ("2001-02-03T04:05:06Z", "2001-02-03T04:05:06.000Z", 0),
        ("2001-02-03T05:05:06+01:00", "2001-02-03T04:05:06.000Z", 0),
        ("2999-01-01T00:00:00Z", "2999-01-01T00:00:00.000Z", 1),
        ("2001-02-03T04:05:06", "2001-02-03T04:05:06.000Z", 0),  # no offset: UTC
        ("2999-01-01", "2999-01-01T00:00:00.000Z", 1),  # a date: its midnight, UTC
    ],
)
def test_expired_hooks_receive_nothing(client, auth, receiver, expiration_date, shown, deliveries):
    """A hook past its `expiration_date` gets no deliveries and still shows that date."""
    hook = subscribe(client, auth, receiver.url, expiration_date=expiration_date)
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["expiration_date"] == shown
    assert publish(client, auth)["deliveries"] == deliveries
    assert log_of(client, auth, hook["id"])["pagination"]["total"] == deliveries


def test_a_hook_expires_when_the_service_clock_passes_its_date(make_app, receiver):
    """Expiry follows the service's clock: a hook receives events until its
    `expiration_date`, and none once the clock has passed it."""
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    app = make_app(clock=clock)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url, expiration_date="2030-01-01T01:00:00Z")
    clock.advance(3599)
    assert publish(client, auth)["deliveries"] == 1
    receiver.wait_for(1)
    clock.advance(2)
    assert publish(client, auth)["deliveries"] == 0
    assert log_of(client, auth, hook["id"])["pagination"]["total"] == 1


# -- properties over schema-valid data ---------------------------------------------------------


class _LegacyMany:
    """`many` as hypothesis-jsonschema 0.23 drives it (`while elements.more()`).

    Newer Hypothesis releases turned `many` into a context manager iterated with `for`;
    this drives the new one through the old calls, for hypothesis-jsonschema only.
    """

    _DONE = object()

    def __init__(self, data: Any, **sizes: Any) -> None:
        self._many = conjecture_utils.many(data, **sizes)
        self._steps: Any = None

    def more(self) -> bool:
        if self._steps is None:
            self._steps = iter(self._many.__enter__())
        if next(self._steps, self._DONE) is self._DONE:
            self._many.__exit__(None, None, None)
            return False
        return True

    def reject(self, why: str | None = None) -> None:
        self._many.reject(why)


if "elements.more()" in inspect.getsource(_from_schema) and not hasattr(
    conjecture_utils.many, "more"
):
    _from_schema.cu = types.SimpleNamespace(**{**vars(conjecture_utils), "many": _LegacyMany})

# Realistic expressions, several of which meet wrong types or missing fields on some data.
MAPPINGS = [
    SEED_003["mapping"],
    "{email: data.winner.value, prize: data.prize.name, source: 'webhook'}",
    "{id: id, kind: type, at: timestamp, template: data.templateId || data.templateUid}",
    "{size: join('x', [to_string(data.width), to_string(data.height)])}",
    "{answers: data.survey.data_capture.sections[].fields[].{q: field_title, a: value}}",
    "{first: data.data_capture.sections[0].fields[0].value, n: length(data.data_capture.sections)}",
    "{total: sum([data.completedCount, data.failedCount]), late: data.duration > `60000`}",
    "{stars: data.newData.stars, changed: data.newData != data.previousData}",
    "{rounded: ceil(to_number(data.variables.size)), late: data.duration > `60000`}",
    "{keys: keys(data), sorted: sort(values(data))}",
    "data.variables",
    "data.session",
    "merge(data, {source: 'webhook'})",
]
FILTERS = [
    "data.width > `1000`",
    "data.variables.count >= `3`",
    "data.type == 'image' && starts_with(data.templateId, 'tmpl_')",
    "length(data.variables) > `0`",
    "contains(data.data_capture.sections[].title, 'Feedback')",
    "data.failedCount",
    "!data.prize_win.valid",
    "max(data.data_capture.sections[].position) >= `1`",
]
FIELD_FILTERS = [
    {"templateId": "tmpl_abc123"},
    {"type": "image"},
    {"session.type": "still", "session.device.id": 42},
    {"prize_win.valid": True},
    {"retryCount": 3},
    {"status": "completed", "failedCount": 0},
]
PROPERTIES = settings(
    max_examples=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _declared_only(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` wherever it lists properties.

    Undeclared properties with arbitrary values make generation several times slower and
    no expression above reads them; `JSON` below covers data of any shape.
    """
    if isinstance(schema, list):
        return [_declared_only(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _declared_only(value) for key, value in schema.items()}
    if isinstance(closed.get("properties"), dict):
        closed.setdefault("additionalProperties", False)
    return closed


def _schema_valid(name: str) -> st.SearchStrategy[Any]:
    strategy = from_schema(_declared_only(CATALOG.get(name).schema))
    # hypothesis-jsonschema ignores `if`/`then`; keep only what the catalog accepts.
    return strategy.filter(lambda data: not CATALOG.validate(name, data))


SCHEMA_VALID = {name: _schema_valid(name) for name in CATALOG.names()}


def _field(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _never_raise(name: str, data: Any) -> None:
    env = envelope("evt_1", name, 1_700_000_000.0, data)
    for mapping in MAPPINGS:
        compile_expression(mapping, "$.mapping")  # a typo here would only ever fail quietly
        try:
            body = render(BodySpec(mapping, {"source": "webhook"}), env)
        except MappingFailed:
            continue
        assert isinstance(body, dict) and body["source"] == "webhook"
        json.dumps(body, allow_nan=False)
    for expression in FILTERS:
        compile_expression(expression, "$.filter")
        assert passes(env, expression=expression, filters=None) in (True, False)
    for filters in FIELD_FILTERS:
        expected = all(
            _field(data, key) == wanted
            and isinstance(_field(data, key), bool) == isinstance(wanted, bool)
            for key, wanted in filters.items()
        )
        assert passes(env, expression=None, filters=filters) is expected


@pytest.mark.parametrize("name", CATALOG.names())
@PROPERTIES
@given(generated=st.data())
def test_mappings_and_filters_never_raise_on_schema_valid_data(name, generated):
    """Mappings give an object or `MappingFailed`, filters a bool, for any schema-valid data."""
    _never_raise(name, generated.draw(SCHEMA_VALID[name]))


SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
# Data of any shape under the field names the expressions read, so they meet wrong types:
# numbers as text, text that is no number, a number too large for a float.
FIELD_NAMES = ["winner", "value", "prize", "width", "variables", "count", "size", "duration"]
ANY_SHAPE = st.recursive(
    SCALARS | st.sampled_from(["", "5", "1e999", "image"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, database=None)
@given(data=ANY_SHAPE)
def test_mappings_and_filters_never_raise_on_data_of_any_shape(data):
    """Mappings and filters never raise on data that matches no schema at all."""
    _never_raise("any", data)


@pytest.mark.parametrize(
    ("mapping", "keys"),
    [
        (SEED_003["mapping"], ["email", "campaign_name"]),
        (MAPPINGS[1], ["email", "prize", "source"]),
        (MAPPINGS[2], ["id", "kind", "at", "template"]),
    ],
)
@settings(max_examples=30, deadline=None, database=None)
@given(data=JSON)
def test_multi_select_mappings_give_their_keys_whatever_the_data(mapping, keys, data):
    """A `{key: expr, ...}` mapping yields an object with exactly its keys, for any JSON data."""
    assert list(apply_mapping(mapping, envelope("evt_1", "any", 0.0, data))) == keys
