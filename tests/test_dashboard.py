"""The operator dashboard through Flask's test client: sign-in and sessions, CSRF on every
POST, escaping of everything a user or a receiver can write, another account's ids, the
security headers, and the create form giving exactly the API's errors.

The same screens in a real browser are in tests/browser/.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.clock import ManualClock
from connector.hooks.accounts import revoke_key
from connector.service import Hookkit
from connector.testing import Receiver, Reply
from connector.wire.envelope import iso

from .conftest import _key, publish, subscribe, wait_until

SECRET_KEY = "dashboard-test-key-0123456789-abcdefghij"
# What tests write into every field a page shows: each must come back inert.
XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: ManualClock) -> Flask:
    """The service with a secret key (the dashboard needs one) and the test's clock."""
    return make_app(secret_key=SECRET_KEY, clock=clock)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, auth: dict[str, str]) -> str:
    """Sign `client` in with the key in `auth`; the session's CSRF token."""
    key = auth["Authorization"].removeprefix("Bearer ")
    form = client.get("/dashboard/sign-in")
    answer = client.post(
        "/dashboard/sign-in", data={"csrf_token": csrf_of(form.text), "api_key": key}
    )
    assert answer.status_code == 302, answer.text
    return csrf_of(client.get("/dashboard/hooks").text)


@pytest.fixture
def quiet_app(make_app: Callable[..., Flask], clock: ManualClock) -> Flask:
    """The same service without a delivery worker: a replay it starts stays running."""
    return make_app(secret_key=SECRET_KEY, clock=clock, embedded_worker=False)


def running_replay(
    client: FlaskClient, auth: dict[str, str], clock: ManualClock, url: str, **fields: object
) -> tuple[dict[str, object], dict[str, object]]:
    """A hook that missed two events while paused, resumed, and a replay of them (run on an
    app without a worker, so it stays running): the hook and the replay, as the API shows
    them."""
    hook = subscribe(client, auth, url, active=False, **fields)
    publish(client, auth)
    publish(client, auth)
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "active"}, headers=auth)
    clock.advance(1)  # the replay's window ends now: after the events
    started = client.post(
        f"/v1/hooks/{hook['id']}/replay",
        json={"since": iso(clock() - 3600), "status": "failed", "include_missed": True},
        headers=auth,
    )
    assert started.status_code == 202 and started.json["status"] == "running", started.json
    return hook, started.json


@pytest.fixture
def signed_in(client: FlaskClient, auth: dict[str, str]) -> str:
    """`client` signed in as acme; the CSRF token of its session."""
    return sign_in(client, auth)


def test_pages_need_a_session(client: FlaskClient) -> None:
    """Without signing in, a screen redirects to the sign-in page and a POST is refused."""
    page = client.get("/dashboard/hooks")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/dashboard/sign-in")
    assert client.post("/dashboard/hooks/hook_x/pause").status_code == 401


def test_sign_in_with_a_wrong_key_is_refused(client: FlaskClient, auth: dict[str, str]) -> None:
    """An unknown key shows the form again with a 401, and no session starts."""
    form = client.get("/dashboard/sign-in")
    answer = client.post(
        "/dashboard/sign-in", data={"csrf_token": csrf_of(form.text), "api_key": "hk_wrong"}
    )
    assert answer.status_code == 401
    assert "That API key is not valid." in answer.text
    assert client.get("/dashboard/hooks").status_code == 302


def test_sign_in_needs_the_forms_csrf_token(client: FlaskClient, auth: dict[str, str]) -> None:
    """A sign-in posted from elsewhere (no token of this session) is refused: no login CSRF."""
    key = auth["Authorization"].removeprefix("Bearer ")
    client.get("/dashboard/sign-in")
    answer = client.post("/dashboard/sign-in", data={"csrf_token": "forged", "api_key": key})
    assert answer.status_code == 403
    assert client.get("/dashboard/hooks").status_code == 302


def test_sign_in_starts_a_new_session(client: FlaskClient, auth: dict[str, str]) -> None:
    """Session fixation: the token of the session before sign-in is worthless after it, and
    the cookie is HttpOnly, SameSite=Lax and limited to /dashboard."""
    before = csrf_of(client.get("/dashboard/sign-in").text)
    key = auth["Authorization"].removeprefix("Bearer ")
    answer = client.post("/dashboard/sign-in", data={"csrf_token": before, "api_key": key})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/dashboard" in cookie
    after = csrf_of(client.get("/dashboard/hooks").text)
    assert after != before
    assert client.post("/dashboard/sign-out", data={"csrf_token": before}).status_code == 403
    assert client.post("/dashboard/sign-out", data={"csrf_token": after}).status_code == 302
    assert client.get("/dashboard/hooks").status_code == 302


def test_session_ends_when_its_key_is_revoked(
    app: Flask, client: FlaskClient, auth: dict[str, str], signed_in: str
) -> None:
    """Revoking the key a session started with signs that session out."""
    revoke_key(Hookkit.of(app).store, auth["Authorization"].removeprefix("Bearer "))
    assert client.get("/dashboard/hooks").status_code == 302


def test_session_ends_after_twelve_hours(
    client: FlaskClient, clock: ManualClock, signed_in: str
) -> None:
    """A session is good for 12 hours of the service's clock."""
    clock.advance(11 * 3600)
    assert client.get("/dashboard/hooks").status_code == 200
    clock.advance(2 * 3600)
    assert client.get("/dashboard/hooks").status_code == 302


def test_sign_in_goes_back_only_to_a_dashboard_page(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """The `next` of sign-in is a dashboard path or nothing: no open redirect."""
    key = auth["Authorization"].removeprefix("Bearer ")
    for target, expected in [
        ("/dashboard/event-types", "/dashboard/event-types"),
        ("//evil.example/x", "/dashboard/hooks"),
        ("https://evil.example/", "/dashboard/hooks"),
    ]:
        token = csrf_of(client.get("/dashboard/sign-in").text)
        answer = client.post(
            "/dashboard/sign-in", data={"csrf_token": token, "api_key": key, "next": target}
        )
        assert answer.headers["Location"] == expected


def test_dashboard_off_without_a_secret_key(make_app: Callable[..., Flask]) -> None:
    """Without HOOKKIT_SECRET_KEY the sign-in page says what to set, and signing in is 404."""
    client = make_app().test_client()
    page = client.get("/dashboard/sign-in")
    assert "HOOKKIT_SECRET_KEY" in page.text
    assert client.post("/dashboard/sign-in", data={"api_key": "x"}).status_code == 404


POSTS = [
    "/dashboard/hooks/new",
    "/dashboard/hooks/{hook}/edit",
    "/dashboard/hooks/{hook}/test",
    "/dashboard/hooks/{hook}/pause",
    "/dashboard/hooks/{hook}/resume",
    "/dashboard/hooks/{hook}/rotate-secret",
    "/dashboard/hooks/{hook}/delete",
    "/dashboard/deliveries/{delivery}/retry",
    "/dashboard/hooks/{hook}/replay",
    "/dashboard/replays/{replay}/cancel",
    "/dashboard/preview",
    "/dashboard/sign-out",
]


@pytest.mark.parametrize("path", POSTS)
def test_every_post_needs_the_csrf_token(
    quiet_app: Flask, clock: ManualClock, receiver: Receiver, path: str
) -> None:
    """A POST without the session's token, or with another, is a 403 and changes nothing."""
    client, auth = quiet_app.test_client(), _key(quiet_app, "acme")
    sign_in(client, auth)
    hook, replay = running_replay(client, auth, clock, receiver.url)
    sent = client.post(f"/v1/hooks/{hook['id']}/test", headers=auth).json
    url = path.format(hook=hook["id"], delivery=sent["id"], replay=replay["id"])
    form = {"since": iso(clock() - 60), "status": "all", "description": "x"}
    assert client.post(url, data=form).status_code == 403
    assert client.post(url, data={**form, "csrf_token": "wrong"}).status_code == 403
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "active"
    assert len(receiver.requests) == 1  # the API's own test send only
    replays = client.get(f"/v1/hooks/{hook['id']}/replays", headers=auth).json["replays"]
    assert [(r["id"], r["status"]) for r in replays] == [(replay["id"], "running")]


def test_another_accounts_ids_are_404_everywhere(
    client: FlaskClient,
    auth: dict[str, str],
    other_auth: dict[str, str],
    receiver: Receiver,
    signed_in: str,
) -> None:
    """Every screen and action answers another account's hook or delivery like an unknown one."""
    theirs = subscribe(client, other_auth, receiver.url)
    delivery = client.post(f"/v1/hooks/{theirs['id']}/test", headers=other_auth).json["id"]
    hook = theirs["id"]
    for url in (
        f"/dashboard/hooks/{hook}",
        f"/dashboard/hooks/{hook}/edit",
        f"/dashboard/hooks/{hook}/delete",
    ):
        assert client.get(url).status_code == 404
    for url in (
        f"/dashboard/hooks/{hook}/edit",
        f"/dashboard/hooks/{hook}/test",
        f"/dashboard/hooks/{hook}/pause",
        f"/dashboard/hooks/{hook}/resume",
        f"/dashboard/hooks/{hook}/rotate-secret",
        f"/dashboard/hooks/{hook}/delete",
        f"/dashboard/deliveries/{delivery}/retry",
    ):
        assert client.post(url, data={"csrf_token": signed_in}).status_code == 404, url
    assert client.get(f"/v1/hooks/{hook}", headers=other_auth).json["status"] == "active"
    assert len(receiver.requests) == 1
    assert hook not in client.get("/dashboard/hooks").text


def _inert(html: str) -> None:
    """None of the XSS strings appears unescaped."""
    for attack in XSS:
        assert attack not in html
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg/" not in html


def test_what_users_and_receivers_write_is_escaped(
    client: FlaskClient, auth: dict[str, str], signed_in: str
) -> None:
    """Descriptions, target URLs, headers, mappings, custom values and response bodies with
    script and attribute-breaking strings are shown as text on every page."""
    attack = XSS[0] + XSS[1]
    with Receiver([Reply(500, attack.encode())]) as bad:
        hook = subscribe(
            client,
            auth,
            f'{bad.url}/a?q="><svg/onload=alert(1)>',  # no spaces in a URL
            description=attack,
            headers={"X-Note": "a" + XSS[1].replace("<", "").replace(">", "")},
            mapping=f"merge(data, {{note: '{XSS[0]}'}})",
            custom_values={"html": attack},
            log_response_body=True,
        )
        test = client.post(f"/dashboard/hooks/{hook['id']}/test", data={"csrf_token": signed_in})
    assert test.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in test.text  # the response body, as text
    for page in (
        test.text,
        client.get("/dashboard/hooks").text,
        client.get(f"/dashboard/hooks/{hook['id']}").text,
        client.get(f"/dashboard/hooks/{hook['id']}/delete").text,
    ):
        _inert(page)
    rotated = client.post(
        f"/dashboard/hooks/{hook['id']}/rotate-secret", data={"csrf_token": signed_in}
    )
    _inert(rotated.text)


def test_form_errors_are_the_apis(
    client: FlaskClient, auth: dict[str, str], signed_in: str
) -> None:
    """The create form goes through the API's checks: the same messages for the same input,
    shown next to the fields, and the input kept."""
    body = {"event": "session", "target_url": "ftp://example.com/x", "mapping": "data.["}
    api = client.post("/v1/hooks", json=body, headers=auth)
    form = client.post("/dashboard/hooks/new", data={**body, "csrf_token": signed_in})
    assert api.status_code == form.status_code == 422
    messages = [e["message"] for e in api.json["errors"]]
    assert messages
    for message in messages:
        assert _escaped(message) in form.text
    assert 'value="ftp://example.com/x"' in form.text
    assert 'aria-invalid="true"' in form.text


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_create_shows_the_secret_once(
    client: FlaskClient, auth: dict[str, str], receiver: Receiver, signed_in: str
) -> None:
    """Creating from the form makes the hook the API shows, with every option given; its
    secret is on that answer and on no later page."""
    answer = client.post(
        "/dashboard/hooks/new",
        data={
            "csrf_token": signed_in,
            "event": ["session", "share"],
            "target_url": receiver.url + "/in",
            "description": "Booth photos",
            "method": "POST",
            "content_type": "form",
            "headers": "X-Team: photos\n",
            "auth_username": "bob",
            "auth_password": "pw",
            "mapping": "{id: id, kind: type}",
            "custom_values": '{"source": "booth"}',
            "filters": '{"type": "session"}',
            "rate_limit": "5",
            "signature_scheme": "hex",
            "retry_schedule": "10s,10s",
            "success": "2xx-3xx",
            "log_response_body": "on",
        },
    )
    assert answer.status_code == 200
    secret = re.search(r'id="secret-value" readonly value="([^"]+)"', answer.text).group(1)
    hook_id = re.search(r"/dashboard/hooks/(hook_\w+)", answer.text).group(1)
    hook = client.get(f"/v1/hooks/{hook_id}", headers=auth).json
    assert hook["events"] == ["session", "share"]
    assert hook["content_type"] == "form" and hook["auth"]["username"] == "bob"
    assert hook["headers"] == {"X-Team": "photos"} and hook["custom_values"] == {"source": "booth"}
    assert hook["rate_limit"] == 5 and hook["signature"]["scheme"] == "hex"
    assert hook["retry_schedule"] == "10s,10s" and hook["success"] == "2xx-3xx"
    assert hook["log_response_body"] is True and hook["filters"] == {"type": "session"}
    assert secret not in client.get(f"/dashboard/hooks/{hook_id}").text


def test_hook_actions(
    client: FlaskClient, auth: dict[str, str], receiver: Receiver, signed_in: str
) -> None:
    """Send test shows the attempt in place; pause, resume and delete change the hook."""
    hook = subscribe(client, auth, receiver.url, description="Photos")
    url = f"/dashboard/hooks/{hook['id']}"
    sent = client.post(url + "/test", data={"csrf_token": signed_in})
    assert 'id="test-result"' in sent.text and ">200<" in sent.text
    assert len(receiver.wait_for(1)) == 1
    paused = client.post(url + "/pause", data={"csrf_token": signed_in})
    assert paused.status_code == 303
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "paused"
    page = client.get(paused.headers["Location"]).text
    assert "Paused: no events are sent" in page and ">Resume</button>" in page
    client.post(url + "/resume", data={"csrf_token": signed_in})
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "active"
    confirm = client.get(url + "/delete")
    assert "Delete this hook?" in confirm.text
    gone = client.post(url + "/delete", data={"csrf_token": signed_in})
    assert gone.status_code == 303
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 404


def test_retry_a_failed_delivery(client: FlaskClient, auth: dict[str, str], signed_in: str) -> None:
    """A delivery that failed has a Retry button; retrying sends it again with the same id."""
    with Receiver([Reply(500), Reply(200)]) as flaky:
        hook = subscribe(client, auth, flaky.url, retry_schedule="none")
        publish(client, auth)
        flaky.wait_for(1)
        log = f"/v1/hooks/{hook['id']}/deliveries"
        wait_until(
            lambda: client.get(log, headers=auth).json["deliveries"][0]["status"] == "failed"
        )
        page = client.get(f"/dashboard/hooks/{hook['id']}").text
        assert ">Retry</button>" in page
        delivery = client.get(log, headers=auth).json["deliveries"][0]["id"]
        retried = client.post(
            f"/dashboard/deliveries/{delivery}/retry", data={"csrf_token": signed_in}
        )
        assert retried.status_code == 303
        second = flaky.wait_for(2)[1]
        assert second.header("webhook-id") == delivery


def test_retry_of_a_paused_hook_says_why(
    client: FlaskClient, auth: dict[str, str], signed_in: str
) -> None:
    """A retry the API would refuse with a 409 shows its reason on the hook page."""
    with Receiver([Reply(500)]) as failing:
        hook = subscribe(client, auth, failing.url, retry_schedule="none")
        publish(client, auth)
        log = f"/v1/hooks/{hook['id']}/deliveries"
        wait_until(
            lambda: client.get(log, headers=auth).json["deliveries"][0]["status"] == "failed"
        )
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "paused"}, headers=auth)
    delivery = client.get(log, headers=auth).json["deliveries"][0]["id"]
    answer = client.post(f"/dashboard/deliveries/{delivery}/retry", data={"csrf_token": signed_in})
    assert answer.status_code == 200
    assert "the subscription is paused" in answer.text


def test_chart_counts_the_last_day(
    client: FlaskClient, auth: dict[str, str], clock: ManualClock, signed_in: str
) -> None:
    """The 24-hour chart counts delivered and failed attempts, and forgets older ones."""
    with Receiver([Reply(200), Reply(500)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        client.post(f"/v1/hooks/{hook['id']}/test", headers=auth)
        client.post(f"/v1/hooks/{hook['id']}/test", headers=auth)
    page = client.get(f"/dashboard/hooks/{hook['id']}").text
    assert "1 delivered, 1 failed attempts" in page
    assert page.count('class="ok"/>') == 1 and page.count('class="failed"/>') == 1
    clock.advance(25 * 3600)
    sign_in(client, auth)  # the session ended after 12 hours
    assert "0 delivered, 0 failed attempts" in client.get(f"/dashboard/hooks/{hook['id']}").text


def test_list_filters(client: FlaskClient, auth: dict[str, str], signed_in: str) -> None:
    """The hooks list filters by event, status and platform."""
    a = subscribe(client, auth, "https://a.example.com/x", platform="zapier")
    b = subscribe(client, auth, "https://b.example.com/x", event="share")
    client.patch(f"/v1/hooks/{b['id']}", json={"status": "paused"}, headers=auth)
    assert a["id"] in client.get("/dashboard/hooks?platform=zapier").text
    assert b["id"] not in client.get("/dashboard/hooks?platform=zapier").text
    assert b["id"] in client.get("/dashboard/hooks?status=paused").text
    assert a["id"] not in client.get("/dashboard/hooks?event=share").text
    assert "No hooks match these filters" in client.get("/dashboard/hooks?status=failed").text


def test_event_type_page_and_preview(client: FlaskClient, signed_in: str) -> None:
    """An event type shows its fields and sample; the playground's preview answers the
    mapped body, or the parser's message with its position."""
    page = client.get("/dashboard/event-types/session").text
    assert "<code>session.id</code>" in page and "Mapping playground" in page
    good = client.post(
        "/dashboard/preview",
        json={"event_type": "session", "mapping": "{kind: type}", "custom_values": {"a": 1}},
        headers={"X-CSRF-Token": signed_in},
    )
    assert good.status_code == 200 and good.json["result"] == {"kind": "session", "a": 1}
    bad = client.post(
        "/dashboard/preview",
        json={"event_type": "session", "mapping": "data.["},
        headers={"X-CSRF-Token": signed_in},
    )
    assert bad.status_code == 422 and bad.json["position"] == 6
    assert bad.json["expression"].endswith("^")
    # Bodies are read as the API reads them: not JSON (NaN), or text that cannot be sent.
    nan = client.post(
        "/dashboard/preview",
        data=b'{"event_type": "session", "mapping": "data", "custom_values": {"a": NaN}}',
        headers={"X-CSRF-Token": signed_in, "Content-Type": "application/json"},
    )
    assert nan.status_code == 400 and "NaN" in nan.json["error"], nan.json
    nul = client.post(
        "/dashboard/preview",
        json={"event_type": "session", "mapping": "data", "custom_values": {"a": "x\u0000"}},
        headers={"X-CSRF-Token": signed_in},
    )
    assert nul.status_code == 422 and nul.json["errors"], nul.json
    assert client.get("/dashboard/event-types/nope").status_code == 404


def test_security_headers(client: FlaskClient, signed_in: str) -> None:
    """Every screen: a CSP with scripts from hookkit only and no framing, and no inline
    script or event handler in the HTML."""
    for url in (
        "/dashboard/sign-in",
        "/dashboard/hooks",
        "/dashboard/hooks/new",
        "/dashboard/event-types/session",
        "/dashboard/hooks/hook_nope",
    ):
        answer = client.get(url)
        csp = answer.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and answer.headers["X-Frame-Options"] == "DENY"
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), url
        assert not re.search(r"\son[a-z]+\s*=", answer.text), url


def test_static_assets_are_served_locally(client: FlaskClient) -> None:
    """The stylesheet and the script come from hookkit itself."""
    page = client.get("/dashboard/sign-in").text
    for asset in re.findall(r'(?:href|src)="(/dashboard/static/[^"]+)"', page):
        assert client.get(asset).status_code == 200
    assert "http" not in "".join(re.findall(r"<(?:script|link)[^>]+>", page))


def test_edit_keeps_what_is_blank_and_clears_what_is_emptied(
    client: FlaskClient, auth: dict[str, str], receiver: Receiver, signed_in: str
) -> None:
    """Editing shows the hook's settings; saving changes what changed, clears an emptied
    mapping, and keeps the secret, the basic-auth password and masked header values."""
    body = {
        "event": "session",
        "target_url": receiver.url,
        "description": "Old",
        "mapping": "{id: id}",
        "headers": {"X-Api-Token": "t0ken", "X-Team": "a"},
        "auth": {"type": "basic", "username": "bob", "password": "pw"},
    }
    hook = client.post("/v1/hooks", json=body, headers=auth).json
    url = f"/dashboard/hooks/{hook['id']}/edit"
    form = client.get(url).text
    assert 'value="Old"' in form and "{id: id}" in form and "X-Api-Token: ********" in form
    assert "t0ken" not in form and "pw" not in re.findall(r'name="auth_password"[^>]*>', form)[0]
    saved = client.post(
        url,
        data={
            "csrf_token": signed_in,
            "event": "session",
            "target_url": receiver.url,
            "description": "New",
            "platform": "custom",
            "method": "POST",
            "content_type": "json",
            "headers": "X-Api-Token: ********\nX-Team: b",
            "auth_username": "bob",
            "current_auth_username": "bob",
            "mapping": "",
            "success": "2xx",
        },
    )
    assert saved.status_code == 303, saved.text
    after = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
    assert after["description"] == "New" and after["mapping"] is None
    assert after["headers"] == {"X-Api-Token": "********", "X-Team": "b"}
    assert after["auth"] == {"type": "basic", "username": "bob"}
    client.post(f"/v1/hooks/{hook['id']}/test", headers=auth)
    (sent,) = receiver.wait_for(1)
    assert sent.header("X-Api-Token") == "t0ken"
    assert sent.header("Authorization") == "Basic Ym9iOnB3"  # bob:pw, kept
    assert sent.header("X-Team") == "b"


def test_edit_errors_are_the_apis(
    client: FlaskClient, auth: dict[str, str], signed_in: str
) -> None:
    """An edit that the API would refuse shows the API's message next to the field."""
    hook = subscribe(client, auth, "https://a.example.com/in")
    answer = client.post(
        f"/dashboard/hooks/{hook['id']}/edit",
        data={"csrf_token": signed_in, "target_url": "https://a.example.com/in"},
    )
    api = client.patch(f"/v1/hooks/{hook['id']}", json={"events": []}, headers=auth)
    assert answer.status_code == api.status_code == 422
    assert _escaped(api.json["errors"][0]["message"]) in answer.text


def test_session_cookie_is_secure_over_https(client: FlaskClient, auth: dict[str, str]) -> None:
    """Over https the session cookie is marked Secure; the dashboard root leads to the hooks."""
    key = auth["Authorization"].removeprefix("Bearer ")
    base = "https://hooks.example.com"
    token = csrf_of(client.get("/dashboard/sign-in", base_url=base).text)
    answer = client.post(
        "/dashboard/sign-in", data={"csrf_token": token, "api_key": key}, base_url=base
    )
    assert "Secure" in answer.headers["Set-Cookie"]
    root = client.get("/dashboard", base_url=base)
    assert root.status_code == 302 and root.headers["Location"].endswith("/dashboard/hooks")


def _selected(html: str, name: str, element_id: str | None = None) -> str:
    """The value of the selected option of select `name` (id `element_id`, else `name`)."""
    select = re.search(rf'<select id="{element_id or name}" name="{name}".*?</select>', html, re.S)
    assert select, f"no select {name}"
    found = re.search(r'<option value="([^"]+)" selected>', select.group(0))
    assert found, f"nothing selected in {name}"
    return found.group(1)


def test_payload_and_ordering_are_saved_as_the_api_shows_them(
    client: FlaskClient, auth: dict[str, str], receiver: Receiver, signed_in: str
) -> None:
    """The form's Payload and Ordering make a thin FIFO hook (the thin body links into this
    service's events, as through the API), the edit form shows them, and saving full and
    concurrent turns them back."""
    form = client.get("/dashboard/hooks/new").text
    assert '<label for="payload">Payload</label>' in form
    assert '<label for="ordering">Ordering</label>' in form
    assert _selected(form, "payload") == "full" and _selected(form, "ordering") == "concurrent"
    created = client.post(
        "/dashboard/hooks/new",
        data={
            "csrf_token": signed_in,
            "event": "session",
            "target_url": receiver.url,
            "payload": "thin",
            "ordering": "fifo",
        },
    )
    assert created.status_code == 200, created.text
    hook_id = re.search(r"/dashboard/hooks/(hook_\w+)", created.text).group(1)
    hook = client.get(f"/v1/hooks/{hook_id}", headers=auth).json
    assert (hook["payload"], hook["ordering"]) == ("thin", "fifo")
    client.post(f"/v1/hooks/{hook_id}/test", headers=auth)
    (sent,) = receiver.wait_for(1)
    body = sent.json()
    assert set(body) == {"id", "type", "timestamp", "url"}
    assert body["url"] == f"http://localhost/v1/events/{body['id']}"
    page = client.get(f"/dashboard/hooks/{hook_id}").text
    assert "FIFO: one at a time, in publish order" in page and "thin: id, type" in page

    edit = client.get(f"/dashboard/hooks/{hook_id}/edit").text
    assert _selected(edit, "payload") == "thin" and _selected(edit, "ordering") == "fifo"
    saved = client.post(
        f"/dashboard/hooks/{hook_id}/edit",
        data={
            "csrf_token": signed_in,
            "event": "session",
            "target_url": receiver.url,
            "payload": "full",
            "ordering": "concurrent",
        },
    )
    assert saved.status_code == 303, saved.text
    hook = client.get(f"/v1/hooks/{hook_id}", headers=auth).json
    assert (hook["payload"], hook["ordering"]) == ("full", "concurrent")


def test_a_thin_hook_with_a_mapping_is_the_apis_error(
    client: FlaskClient, auth: dict[str, str], signed_in: str
) -> None:
    """Thin with a mapping is refused with the API's message, next to the Payload control."""
    body = {
        "event": "session",
        "target_url": "https://a.example.com/in",
        "mapping": "{id: id}",
        "payload": "thin",
    }
    api = client.post("/v1/hooks", json=body, headers=auth)
    form = client.post("/dashboard/hooks/new", data={**body, "csrf_token": signed_in})
    assert api.status_code == form.status_code == 422
    (error,) = api.json["errors"]
    assert error["path"] == "$.payload"
    assert f'<p class="field-error" id="payload-error">{_escaped(error["message"])}</p>' in (
        form.text
    )
    assert 'aria-describedby="payload-hint payload-error" aria-invalid="true"' in form.text


def test_replay_sends_failed_deliveries_again(
    client: FlaskClient, auth: dict[str, str], clock: ManualClock, signed_in: str
) -> None:
    """The hook page's Replay form, as first shown (failed deliveries of the last hour),
    sends the failed delivery again with its webhook-id, and shows the replay done."""
    with Receiver([Reply(500), Reply(200)]) as flaky:
        hook = subscribe(client, auth, flaky.url, retry_schedule="none")
        publish(client, auth)
        log = f"/v1/hooks/{hook['id']}/deliveries"
        wait_until(
            lambda: client.get(log, headers=auth).json["deliveries"][0]["status"] == "failed"
        )
        page = client.get(f"/dashboard/hooks/{hook['id']}").text
        assert '<h2 id="replay-title">Replay</h2>' in page
        assert ">Replay</button>" in page and "Cancel replay" not in page
        since = re.search(
            r'name="since" type="datetime-local" step="1" required value="([^"]+)"', page
        )
        assert since and _selected(page, "status", "replay-status") == "failed"
        clock.advance(1)  # the window ends when the replay is asked: after the event
        answer = client.post(
            f"/dashboard/hooks/{hook['id']}/replay",
            data={"csrf_token": signed_in, "since": since.group(1), "status": "failed"},
        )
        assert answer.status_code == 303
        assert answer.headers["Location"].endswith("notice=replay_started#replay")
        first, second = flaky.wait_for(2)
        assert second.header("webhook-id") == first.header("webhook-id")

    def done() -> str | None:
        shown = client.get(f"/dashboard/hooks/{hook['id']}").text
        return shown if '<span class="badge done">done</span>' in shown else None

    shown = wait_until(done)
    assert "1 of 1 queued" in shown and "Cancel replay" not in shown
    (replay,) = client.get(f"/v1/hooks/{hook['id']}/replays", headers=auth).json["replays"]
    assert (replay["scope"], replay["total"], replay["queued"]) == ("failed", 1, 1)


def test_a_running_replay_can_be_cancelled(
    quiet_app: Flask, clock: ManualClock, receiver: Receiver
) -> None:
    """A running replay shows its progress and "Cancel replay"; another one is refused with
    a readable message while it runs; cancelling it is what `DELETE /v1/replays/{id}` does."""
    client, auth = quiet_app.test_client(), _key(quiet_app, "acme")
    token = sign_in(client, auth)
    hook, replay = running_replay(client, auth, clock, receiver.url)
    url = f"/dashboard/hooks/{hook['id']}"
    page = client.get(url).text
    assert '<span class="badge running">running</span>' in page
    assert "0 of 2 queued" in page and ">Cancel replay</button>" in page
    progress = re.search(r'data-progress-url="([^"]+)"', page).group(1)
    assert progress == f"/dashboard/replays/{replay['id']}"
    api = client.get(f"/v1/replays/{replay['id']}", headers=auth).json
    assert client.get(progress).json == api  # what the page follows while it runs
    again = client.post(
        url + "/replay", data={"csrf_token": token, "since": iso(clock() - 60), "status": "all"}
    )
    assert again.status_code == 409
    assert f"Another replay of this hook ({replay['id']}) is still running" in again.text
    assert 'value="all" selected' in again.text  # the form as it was sent

    cancelled = client.post(f"/dashboard/replays/{replay['id']}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303
    shown = client.get(cancelled.headers["Location"]).text
    assert "Replay cancelled" in shown and "Cancel replay" not in shown
    assert '<span class="badge cancelled">cancelled</span>' in shown
    api = client.get(f"/v1/replays/{replay['id']}", headers=auth).json
    assert (api["status"], api["queued"]) == ("cancelled", 0)


def _api_replay(client: FlaskClient, auth: dict[str, str], hook_id: str, body: dict) -> Any:
    return client.post(f"/v1/hooks/{hook_id}/replay", json=body, headers=auth)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"since": "yesterday", "status": "failed"}, "validation_failed"),
        (
            {"since": "2026-01-01T00:00", "until": "2025-01-01T00:00", "status": "all"},
            "validation_failed",
        ),
        (
            {"since": "2026-01-01T00:00", "until": "2026-03-01T00:00", "status": "all"},
            "validation_failed",
        ),
        (
            {"since": "HOUR_AGO", "status": "all", "event_types": ["nope"]},
            "validation_failed",
        ),
        ({"since": "HOUR_AGO", "status": "all", "paused": True}, "hook_not_active"),
    ],
)
def test_refused_replays_say_why_in_place(
    client: FlaskClient,
    auth: dict[str, str],
    clock: ManualClock,
    signed_in: str,
    body: dict,
    code: str,
) -> None:
    """A replay the API refuses (a bad or too long window, an unknown type, a paused hook)
    shows the API's message on the hook page, with the API's status."""
    hook = subscribe(client, auth, "https://a.example.com/in", active="paused" not in body)
    hour_ago = iso(clock() - 3600)
    body = {k: hour_ago if v == "HOUR_AGO" else v for k, v in body.items() if k != "paused"}
    api = _api_replay(client, auth, hook["id"], body)
    assert api.json["code"] == code
    form = {**body, "event_types": body.get("event_types", []), "csrf_token": signed_in}
    answer = client.post(f"/dashboard/hooks/{hook['id']}/replay", data=form)
    assert answer.status_code == api.status_code
    assert '<div class="error" role="alert">' in answer.text
    for message in [e["message"] for e in api.json.get("errors", ())] or [api.json["detail"]]:
        assert _escaped(message) in answer.text
    assert client.get(f"/v1/hooks/{hook['id']}/replays", headers=auth).json["replays"] == []


def test_a_replay_too_large_says_so(
    make_app: Callable[..., Flask], clock: ManualClock, receiver: Receiver
) -> None:
    """More deliveries than HOOKKIT_REPLAY_MAX_COUNT: the API's 422 replay_too_large, in
    words, with what to do about it."""
    app = make_app(secret_key=SECRET_KEY, clock=clock, embedded_worker=False, replay_max_count=1)
    client, auth = app.test_client(), _key(app, "acme")
    token = sign_in(client, auth)
    hook = subscribe(client, auth, receiver.url, active=False)
    publish(client, auth)
    publish(client, auth)
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "active"}, headers=auth)
    clock.advance(1)
    form = {"since": iso(clock() - 3600), "status": "failed", "include_missed": "on"}
    answer = client.post(
        f"/dashboard/hooks/{hook['id']}/replay", data={**form, "csrf_token": token}
    )
    assert answer.status_code == 422
    assert "Replay too large: this replay would cover 2 deliveries and events, more than 1" in (
        answer.text
    )
    assert "choose a shorter window" in answer.text


def test_replay_inputs_are_escaped(
    client: FlaskClient, auth: dict[str, str], clock: ManualClock, signed_in: str
) -> None:
    """Script strings typed into the replay form come back as text, in the error message
    and in the form shown again."""
    hook = subscribe(client, auth, "https://a.example.com/in")
    answer = client.post(
        f"/dashboard/hooks/{hook['id']}/replay",
        data={
            "csrf_token": signed_in,
            "since": XSS[0],
            "until": XSS[1],
            "status": "all",
            "event_types": XSS[0],
        },
    )
    assert answer.status_code == 422
    assert f'value="{_escaped(XSS[0])}"' in answer.text
    _inert(answer.text)
    typed = client.post(
        f"/dashboard/hooks/{hook['id']}/replay",
        data={
            "csrf_token": signed_in,
            "since": iso(clock() - 3600),
            "status": "all",
            "event_types": XSS[1],
        },
    )
    assert typed.status_code == 422 and "unknown event type" in typed.text
    _inert(typed.text)


def test_another_accounts_replays_are_404(
    quiet_app: Flask, clock: ManualClock, receiver: Receiver
) -> None:
    """Another account's hook cannot be replayed from the dashboard, nor its replay
    cancelled: both answer 404, and the replay keeps running."""
    client = quiet_app.test_client()
    auth, other_auth = _key(quiet_app, "acme"), _key(quiet_app, "globex")
    token = sign_in(client, auth)
    theirs, replay = running_replay(client, other_auth, clock, receiver.url)
    form = {"csrf_token": token, "since": iso(clock() - 60), "status": "all"}
    assert client.post(f"/dashboard/hooks/{theirs['id']}/replay", data=form).status_code == 404
    cancel = client.post(f"/dashboard/replays/{replay['id']}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 404
    assert client.get(f"/dashboard/replays/{replay['id']}").status_code == 404
    assert client.post("/dashboard/replays/rpl_nope/cancel", data=form).status_code == 404
    assert client.get(f"/v1/replays/{replay['id']}", headers=other_auth).json["status"] == "running"
    listed = client.get(f"/v1/hooks/{theirs['id']}/replays", headers=other_auth).json
    assert len(listed["replays"]) == 1
