"""The event catalog: loading and checking files, validating event data, output fields."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.catalog import Catalog, EventType, schema_fields, value_fields
from connector.errors import CatalogError, FieldError, NotFound

ROOT = Path(__file__).resolve().parent.parent
NAMES = [
    "batch.completed",
    "binding.failed",
    "binding.updated",
    "competition_win",
    "render.completed",
    "render.failed",
    "session",
    "share",
    "survey",
]
FIELD_TYPES = {"string", "integer", "number", "boolean", "datetime", "array", "object", "null"}


def sample(name: str) -> dict[str, Any]:
    """A private copy of the shipped sample, safe to break."""
    return json.loads((ROOT / "samples" / f"{name}.json").read_text())


# Loading the shipped catalog -------------------------------------------------------------


def test_shipped_catalog_loads_all_nine_event_types(catalog: Catalog) -> None:
    """The schemas and samples in the repository load and validate at start-up."""
    assert catalog.names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_event_type_exposes_schema_title_description_and_sample(
    catalog: Catalog, name: str
) -> None:
    """Each event type carries its schema's title and description and its sample file."""
    event_type = catalog.get(name)
    schema = json.loads((ROOT / "schemas" / f"{name}.json").read_text())
    assert event_type.title == schema["title"]
    assert event_type.description == schema["description"]
    assert event_type.sample == sample(name)
    assert event_type.summary() == {
        "name": name,
        "title": schema["title"],
        "description": schema["description"],
    }


def test_membership_answers_for_known_names_only(catalog: Catalog) -> None:
    """`in` is true for catalog names and false for anything else, including non-strings."""
    assert "session" in catalog
    assert "render.started" not in catalog
    assert 42 not in catalog


def test_get_unknown_name_raises_not_found(catalog: Catalog) -> None:
    """Asking for an event type that does not exist is a 404, naming the type."""
    with pytest.raises(NotFound, match=r"unknown event type 'render\.started'"):
        catalog.get("render.started")


def test_validate_unknown_name_raises_not_found(catalog: Catalog) -> None:
    """Validating data for an unknown type is a 404, not an empty list of errors."""
    with pytest.raises(NotFound, match="unknown event type 'nope'"):
        catalog.validate("nope", {})


# Validating event data -------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shipped_sample_is_valid_data(catalog: Catalog, name: str) -> None:
    """Every shipped sample is valid `data` for its own type."""
    assert catalog.validate(name, sample(name)) == []


def _without(data: dict[str, Any], *path: str | int) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


def _with(data: dict[str, Any], value: object, *path: str | int) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


INVALID = [
    pytest.param(
        "session",
        _with(_without(sample("session"), "session", "id"), "polaroid", "session", "type"),
        [
            ("$.data.session.id", "'id' is a required property"),
            ("$.data.session.type", "'polaroid' is not one of ['still', 'gif', 'video', 'ai']"),
        ],
        id="session-missing-id-and-unknown-type",
    ),
    pytest.param(
        "session",
        {},
        [
            ("$.data.event_id", "'event_id' is a required property"),
            ("$.data.session", "'session' is a required property"),
        ],
        id="session-empty",
    ),
    pytest.param(
        "render.completed",
        _with(_with(sample("render.completed"), "not a url", "url"), "1200", "width"),
        [
            ("$.data.url", "'not a url' is not a 'uri'"),
            ("$.data.width", "'1200' is not of type 'integer'"),
        ],
        id="render-completed-bad-url-and-string-width",
    ),
    pytest.param(
        "render.failed",
        _with(sample("render.failed"), "video", "type"),
        [("$.data.type", "'video' is not one of ['image', 'gif', 'pdf']")],
        id="render-failed-unknown-render-type",
    ),
    pytest.param(
        "batch.completed",
        _with(_with(sample("batch.completed"), "done", "status"), -1, "failedCount"),
        [
            ("$.data.failedCount", "-1 is less than the minimum of 0"),
            ("$.data.status", "'done' is not one of ['completed', 'failed', 'cancelled']"),
        ],
        id="batch-unknown-status-and-negative-count",
    ),
    pytest.param(
        "binding.failed",
        _with(sample("binding.failed"), "tomorrow", "nextRetry"),
        [("$.data.nextRetry", "'tomorrow' is not a 'date-time'")],
        id="binding-failed-bad-date-time",
    ),
    pytest.param(
        "binding.updated",
        _without(sample("binding.updated"), "imageUrl"),
        [("$.data.imageUrl", "'imageUrl' is a required property")],
        id="binding-updated-missing-image-url",
    ),
    pytest.param(
        "share",
        _with(sample("share"), "not-an-address", "share", "value"),
        [("$.data.share.value", "'not-an-address' is not a 'email'")],
        id="share-by-email-needs-an-address",
    ),
    pytest.param(
        "survey",
        _with(
            sample("survey"),
            [{"fields": [{"field_id": "a", "value": 5}]}] * 11,
            "survey",
            "data_capture",
            "sections",
        ),
        [
            (
                f"$.data.survey.data_capture.sections[{i}].fields[0].value",
                "5 is not of type 'string'",
            )
            for i in range(11)
        ],
        id="survey-errors-in-index-order",
    ),
    pytest.param(
        "competition_win",
        _with(_without(sample("competition_win"), "prize"), "123", "prize_win", "uuid"),
        [
            ("$.data.prize", "'prize' is a required property"),
            ("$.data.prize_win.uuid", "'123' is not a 'uuid'"),
        ],
        id="competition-win-missing-prize-and-bad-uuid",
    ),
    pytest.param(
        "share",
        ["not", "an", "object"],
        [("$.data", "['not', 'an', 'object'] is not of type 'object'")],
        id="data-not-an-object",
    ),
]


@pytest.mark.parametrize(("name", "data", "expected"), INVALID)
def test_validate_reports_every_failing_path(
    catalog: Catalog, name: str, data: object, expected: list[tuple[str, str]]
) -> None:
    """Invalid data yields one FieldError per failing path, sorted by path, none left out."""
    assert catalog.validate(name, data) == [FieldError(path, msg) for path, msg in expected]


def test_validate_uses_the_path_prefix(catalog: Catalog) -> None:
    """The prefix says where `data` sat in the request, so paths match what the client sent."""
    data = _without(sample("session"), "session", "id")
    assert catalog.validate("session", data, path_prefix="$") == [
        FieldError("$.session.id", "'id' is a required property")
    ]


def test_validate_accepts_additional_properties(catalog: Catalog) -> None:
    """Products add fields over time; unknown properties are not an error."""
    data = _with(sample("render.completed"), "blog", "campaign")
    assert catalog.validate("render.completed", data) == []


def test_validate_caps_messages_that_echo_large_client_values(catalog: Catalog) -> None:
    """A huge wrong value does not come back whole in the error message."""
    data = _with(sample("session"), "x" * 10_000, "event_id")
    [error] = catalog.validate("session", data)
    assert error.path == "$.data.event_id"
    assert len(error.message) <= 300


# Loading broken catalogs -----------------------------------------------------------------

GOOD_SCHEMA = json.dumps(
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Ping",
        "description": "Sent when pinged.",
        "type": "object",
        "properties": {
            "session": {
                "type": "object",
                "properties": {"id": {"type": "string"}},
                "required": ["id"],
            }
        },
    },
    indent=2,
)
GOOD_SAMPLE = '{"session": {"id": "abc"}}'


def _catalog_dirs(tmp_path: Path, schemas: dict[str, str], samples: dict[str, str]) -> Path:
    for folder, files in (("schemas", schemas), ("samples", samples)):
        (tmp_path / folder).mkdir()
        for name, text in files.items():
            (tmp_path / folder / name).write_text(text)
    return tmp_path


BROKEN = [
    pytest.param(
        {"ping.json": GOOD_SCHEMA},
        {"ping.json": '{"session": {"id": "abc"},\n  }'},
        ["samples/ping.json", "not valid JSON", "line 2, column 3"],
        id="sample-not-json",
    ),
    pytest.param(
        {"ping.json": '{"type": "object",'},
        {"ping.json": GOOD_SAMPLE},
        ["schemas/ping.json", "not valid JSON", "line 1, column 19"],
        id="schema-not-json",
    ),
    pytest.param(
        {"ping.json": '{"type": "object", "properties": {"id": {"type": "text"}}}'},
        {"ping.json": GOOD_SAMPLE},
        ["schemas/ping.json", "not a valid draft 2020-12 schema", "$.properties.id.type"],
        id="schema-invalid",
    ),
    pytest.param(
        {"ping.json": '["not", "a", "schema"]'},
        {"ping.json": GOOD_SAMPLE},
        ["schemas/ping.json", "$"],
        id="schema-not-an-object",
    ),
    pytest.param(
        {"ping.json": '{"$schema": "http://json-schema.org/draft-07/schema#"}'},
        {"ping.json": GOOD_SAMPLE},
        ["schemas/ping.json", "$['$schema']", "draft-07"],
        id="schema-other-dialect",
    ),
    pytest.param(
        {"ping.json": GOOD_SCHEMA},
        {"ping.json": '{"session": {"name": "abc"}}'},
        ["samples/ping.json", "schemas/ping.json", "$.session.id", "'id' is a required property"],
        id="sample-does-not-match-schema",
    ),
    pytest.param(
        {"ping.json": GOOD_SCHEMA},
        {"ping.json": GOOD_SAMPLE, "pong.json": GOOD_SAMPLE},
        ["samples/pong.json", "sample has no schema", "schemas/pong.json"],
        id="orphan-sample",
    ),
    pytest.param(
        {"ping.json": GOOD_SCHEMA, "pong.json": GOOD_SCHEMA},
        {"ping.json": GOOD_SAMPLE},
        ["schemas/pong.json", "schema has no sample", "samples/pong.json"],
        id="orphan-schema",
    ),
    pytest.param(
        {"ping.json": '{"properties": {"session": {"$ref": "https://example.com/s.json"}}}'},
        {"ping.json": GOOD_SAMPLE},
        ["schemas/ping.json", "https://example.com/s.json", "$.properties.session['$ref']"],
        id="schema-with-remote-ref",
    ),
    pytest.param(
        {"ping.json": '{"properties": {"session": {"$ref": "#/$defs/missing"}}}'},
        {"ping.json": GOOD_SAMPLE},
        ["schemas/ping.json", "cannot resolve $ref", "/$defs/missing"],
        id="schema-with-dangling-local-ref",
    ),
    pytest.param({}, {}, ["schemas", "no event type schemas"], id="empty-catalog"),
]


@pytest.mark.parametrize(("schemas", "samples", "fragments"), BROKEN)
def test_broken_catalog_stops_start_up_naming_file_and_place(
    tmp_path: Path, schemas: dict[str, str], samples: dict[str, str], fragments: list[str]
) -> None:
    """A broken catalog raises CatalogError whose message names the file and the problem."""
    root = _catalog_dirs(tmp_path, schemas, samples)
    with pytest.raises(CatalogError) as raised:
        Catalog.load(root / "schemas", root / "samples")
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_missing_directory_stops_start_up(tmp_path: Path) -> None:
    """A mistyped catalog path is reported, not read as an empty catalog."""
    with pytest.raises(CatalogError, match="not a directory"):
        Catalog.load(tmp_path / "nowhere", tmp_path / "nowhere")


def test_event_name_is_the_file_name_and_title_defaults_to_it(tmp_path: Path) -> None:
    """The event name is the file name without `.json`; a schema without a title still loads."""
    root = _catalog_dirs(
        tmp_path, {"order.paid.json": '{"type": "object"}'}, {"order.paid.json": "{}"}
    )
    catalog = Catalog.load(root / "schemas", root / "samples")
    assert catalog.get("order.paid").summary() == {
        "name": "order.paid",
        "title": "order.paid",
        "description": "",
    }


# Output fields ---------------------------------------------------------------------------


def _collapse_open_objects(fields: list[dict[str, str]], open_keys: list[str]) -> dict[str, str]:
    """Key -> type, with a sample's entries inside free-form objects folded into the object."""
    result = {}
    for field in fields:
        owner = next((key for key in open_keys if field["key"].startswith(key + "__")), None)
        if owner is None:
            result[field["key"]] = field["type"]
        else:
            result[owner] = "object"
    return result


@pytest.mark.parametrize("name", NAMES)
def test_schema_and_its_sample_give_the_same_output_fields(catalog: Catalog, name: str) -> None:
    """A trigger shows the same keys and types whether built from the schema or the sample.

    Free-form objects (`variables`, `newData`) are one `object` field in the schema and
    whatever keys the sample happens to hold; those are compared as the object.
    """
    event_type = catalog.get(name)
    from_schema = {field["key"]: field["type"] for field in schema_fields(event_type.schema)}
    open_keys = [key for key, kind in from_schema.items() if kind == "object"]
    from_sample = _collapse_open_objects(value_fields(event_type.sample), open_keys)
    assert from_sample == from_schema


def test_schema_fields_flatten_nested_objects_with_double_underscores(catalog: Catalog) -> None:
    """Nested properties become Zapier-style `a__b__c` keys with readable labels."""
    # Wrapped in an envelope the event schema's own title ("Session") would label `data`.
    data = {**catalog.get("session").schema, "title": "Data"}
    envelope = {"type": "object", "properties": {"data": data}}
    fields = {field["key"]: field for field in schema_fields(envelope)}
    assert fields["data__session__device__name"] == {
        "key": "data__session__device__name",
        "label": "Data Session Device Name",
        "type": "string",
    }
    assert fields["data__session__still_template_id"]["type"] == "integer"
    assert fields["data__session__site_url"]["label"] == "Data Session Site URL"
    assert "data__session" not in fields  # objects are recursed into, not listed


def test_schema_fields_prefer_titles_and_map_types() -> None:
    """Titles name their part of the label; formats, arrays and free objects get their types."""
    schema = {
        "type": "object",
        "properties": {
            "order": {
                "title": "Purchase",
                "type": "object",
                "properties": {
                    "paidAt": {"type": "string", "format": "date-time"},
                    "total": {"type": "number", "title": "Amount paid"},
                    "lines": {"type": "array", "items": {"type": "object"}},
                    "meta": {"type": "object"},
                    "gift": {"type": "boolean"},
                    "note": {"type": ["string", "null"]},
                    "nothing": {"type": "null"},
                    "kind": {"enum": [3, 4]},
                },
            }
        },
    }
    assert schema_fields(schema) == [
        {"key": "order__paidAt", "label": "Purchase Paid At", "type": "datetime"},
        {"key": "order__total", "label": "Purchase Amount paid", "type": "number"},
        {"key": "order__lines", "label": "Purchase Lines", "type": "array"},
        {"key": "order__meta", "label": "Purchase Meta", "type": "object"},
        {"key": "order__gift", "label": "Purchase Gift", "type": "boolean"},
        {"key": "order__note", "label": "Purchase Note", "type": "string"},
        {"key": "order__nothing", "label": "Purchase Nothing", "type": "null"},
        {"key": "order__kind", "label": "Purchase Kind", "type": "integer"},
    ]


def test_value_fields_type_each_json_value() -> None:
    """Concrete values map to field types; ISO-8601 strings count as datetimes."""
    value = {
        "data": {
            "at": "2025-01-15T14:30:00+00:00",
            "day": "2025-01-15",
            "name": "Coffee",
            "count": 2,
            "ratio": 0.5,
            "ok": True,
            "gone": None,
            "tags": [{"a": 1}],
            "empty": {},
        }
    }
    assert [(f["key"], f["label"], f["type"]) for f in value_fields(value)] == [
        ("data__at", "Data At", "datetime"),
        ("data__day", "Data Day", "string"),
        ("data__name", "Data Name", "string"),
        ("data__count", "Data Count", "integer"),
        ("data__ratio", "Data Ratio", "number"),
        ("data__ok", "Data Ok", "boolean"),
        ("data__gone", "Data Gone", "null"),
        ("data__tags", "Data Tags", "array"),
        ("data__empty", "Data Empty", "object"),
    ]


def test_output_fields_of_a_non_object_body_are_empty() -> None:
    """A body that is not an object (a mapping can produce one) has no named fields."""
    assert value_fields(["a", 1]) == []
    assert value_fields("text") == []
    assert schema_fields({"type": "string"}) == []


# Properties ------------------------------------------------------------------------------

# Property names from the shipped samples, so generated objects often hit real properties.
VOCABULARY = sorted(
    {f["key"].rsplit("__", 1)[-1] for name in NAMES for f in value_fields(sample(name))}
    | {"session", "share", "survey", "data_capture", "sections", "fields", "device"}
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["still", "email", "2025-01-15T14:30:00Z", "https://a.example/x"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(VOCABULARY) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=json_values)
def test_validate_never_raises_on_arbitrary_json(catalog: Catalog, name: str, data: Any) -> None:
    """Whatever JSON a client sends as `data`, validation answers with FieldErrors, not a crash."""
    errors = catalog.validate(name, data)
    assert isinstance(errors, list)
    assert all(isinstance(error, FieldError) for error in errors)
    assert all(error.path.startswith("$.data") for error in errors)


@settings(max_examples=100, deadline=None)
@given(value=json_values)
def test_value_fields_never_raise_on_arbitrary_json(value: Any) -> None:
    """Any mapped body yields well-formed output fields."""
    for field in value_fields(value):
        assert set(field) == {"key", "label", "type"}
        assert field["type"] in FIELD_TYPES


def test_event_type_is_immutable() -> None:
    """Event types are shared by every request, so they cannot be reassigned."""
    event_type = EventType("ping", "Ping", "Sent when pinged.", {}, {})
    with pytest.raises(AttributeError):
        event_type.name = "pong"  # type: ignore[misc]
