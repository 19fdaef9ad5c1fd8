"""Fuzzing from the spec: schemathesis reads the app's own `/openapi.json` and sends
generated requests (valid and invalid ones) to every documented operation, in-process
through WSGI, with a valid API key. Every answer must not be a 5xx, and must match what
the document says of it: a documented status code, its content type, and its schema.

Deterministic (derandomized, no shrinking, no example database) and bounded: at most
`MAX_EXAMPLES` requests per operation. Excluded: `/actions/{token}`, the HTML one-click pages
of e-mails, whose signed tokens cannot be generated (every generated one is a 404 page).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from connector.hooks.accounts import create_key, ensure_account
from connector.platforms.description import describe_api
from connector.service import Hookkit
from connector.testing import Receiver

from .conftest import deliveries_of, publish, shipped_catalog, subscribe

MAX_EXAMPLES = 20
Fuzzed = tuple[Flask, dict[str, str], dict[str, str]]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The document `/openapi.json` serves, built as the app builds it (`describe_api`); the
# first test checks that the two agree, so the fuzzing reads what clients read.
DOCUMENT, _ = describe_api(shipped_catalog())
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path_regex=r"^/actions/")


@pytest.fixture
def fuzzed(make_app: Callable[..., Flask], receiver: Receiver) -> Fuzzed:
    """A fresh app (no embedded worker: nothing is sent), a valid key's headers, and real
    ids of a hook, a delivery and an event type, so that generated paths also find things."""
    app = make_app(embedded_worker=False)
    store = Hookkit.of(app).store
    headers = {"Authorization": f"Bearer {create_key(store, ensure_account(store, 'acme'))}"}
    client = app.test_client()
    hook = subscribe(client, headers, receiver.url)
    publish(client, headers)
    (delivery,) = deliveries_of(client, headers, hook["id"])["deliveries"]
    real = {"hook_id": hook["id"], "delivery_id": delivery["id"], "name": "session"}
    return app, headers, real


def test_the_fuzzed_document_is_the_served_one(fuzzed: Fuzzed) -> None:
    app, _, _ = fuzzed
    served = app.test_client().get("/openapi.json").json
    assert {**served, "servers": None} == {**DOCUMENT, "servers": None}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    app, headers, real = fuzzed
    for name, value in (case.path_parameters or {}).items():
        # Half the examples (decided by the generated value: deterministic) ask for a real one.
        if name in real and len(str(value)) % 2 == 0:
            case.path_parameters[name] = real[name]
    response = case.call(app=app, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": app})
