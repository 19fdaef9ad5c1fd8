"""No client input produces a 500: arbitrary JSON bodies and query strings, property-tested."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
HOOK_KEYS = st.sampled_from(
    [
        "event",
        "events",
        "target_url",
        "hookUrl",
        "url",
        "mapping",
        "filter",
        "filters",
        "custom_values",
        "headers",
        "method",
        "content_type",
        "auth",
        "platform",
        "status",
        "active",
        "rate_limit",
        "expiration_date",
        "description",
        "log_response_body",
    ]
)
HOOK_BODIES = st.dictionaries(HOOK_KEYS, JSON, max_size=6)
EVENT_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["session", "share", "nope"]) | JSON,
        "data": JSON,
        "id": JSON,
    },
)
QUERY = st.dictionaries(
    st.sampled_from(
        [
            "page",
            "limit",
            "status",
            "event",
            "target_url",
            "type",
            "since",
            "since_id",
            "mapping",
            "hook_id",
            "platform",
            "format",
        ]
    ),
    st.text(max_size=12),
    max_size=4,
)
RELAXED = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _no_server_error(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.json["code"]


@RELAXED
@given(body=HOOK_BODIES)
def test_subscribe_never_fails_with_500(client, auth, body):
    """Any JSON object sent to POST /v1/hooks is accepted or refused with a problem."""
    _no_server_error(client.post("/v1/hooks", json=body, headers=auth))


@RELAXED
@given(body=HOOK_BODIES)
def test_update_never_fails_with_500(client, auth, body):
    """Any JSON object sent to PATCH /v1/hooks/{id} is applied or refused with a problem."""
    hook = client.post(
        "/v1/hooks", json={"event": "share", "url": "http://127.0.0.1:9/robust"}, headers=auth
    ).json
    _no_server_error(client.patch(f"/v1/hooks/{hook['id']}", json=body, headers=auth))


@RELAXED
@given(body=EVENT_BODIES)
def test_publish_never_fails_with_500(client, auth, body):
    """Any JSON object sent to POST /v1/events is accepted or refused with a problem."""
    _no_server_error(client.post("/v1/events", json=body, headers=auth))


@pytest.mark.parametrize(
    "path",
    ["/v1/hooks", "/v1/events", "/v1/event-types/session/samples", "/v1/event-types/session"],
)
@RELAXED
@given(query=QUERY)
def test_queries_never_fail_with_500(client, auth, path, query):
    """Arbitrary query parameters on list endpoints never cause a server error."""
    _no_server_error(client.get(path, query_string=query, headers=auth))


@RELAXED
@given(raw=st.binary(max_size=200))
def test_raw_bytes_never_fail_with_500(client, auth, raw):
    """Arbitrary bytes labelled as JSON are refused cleanly."""
    headers = {**auth, "Content-Type": "application/json"}
    _no_server_error(client.post("/v1/hooks", data=raw, headers=headers))
    _no_server_error(client.post("/v1/events", data=raw, headers=headers))
