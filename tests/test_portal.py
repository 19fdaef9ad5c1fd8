"""The end-user portal through Flask's test client: `POST /v1/portal-links`, what a link
opens, links that cannot be widened or outlive their expiry, framing, theme and CSRF.

The portal in a real browser, inside an iframe, is in tests/browser/.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer

from connector.clock import ManualClock
from connector.config import Settings
from connector.hooks.portal import PORTAL_SALT
from connector.testing import Receiver
from connector.wire.envelope import iso

from .conftest import _key, publish, subscribe
from .test_dashboard import SECRET_KEY, csrf_of, running_replay

EMBEDDER = "https://app.example.com"


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: ManualClock) -> Flask:
    return make_app(secret_key=SECRET_KEY, clock=clock, portal_frame_ancestors=EMBEDDER)


def link(client: FlaskClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = client.post("/v1/portal-links", json=body, headers=auth)
    assert answer.status_code == 201, answer.json
    return answer.json  # type: ignore[no-any-return]


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_link_opens_the_accounts_hooks(
    client: FlaskClient, auth: dict[str, str], other_auth: dict[str, str], clock: ManualClock
) -> None:
    """One call gives a URL and its expiry; it lists the account's hooks with no key, no
    cookie, and never another account's."""
    mine = subscribe(client, auth, "https://a.example.com/in", description="Mine")
    theirs = subscribe(client, other_auth, "https://b.example.com/in", description="Theirs")
    made = link(client, auth, expires_in="15m")
    assert made["url"].startswith("http://localhost/portal/")
    assert made["expires_at"] == iso(int(clock() + 15 * 60))
    page = client.get(path_of(made["url"]))
    assert page.status_code == 200
    assert mine["id"] in page.text and theirs["id"] not in page.text
    assert "Set-Cookie" not in page.headers
    assert (
        client.get(path_of(made["url"]).replace("/hooks", f"/hooks/{theirs['id']}")).status_code
        == 404
    )


def test_a_link_scoped_to_hooks_shows_only_those(client: FlaskClient, auth: dict[str, str]) -> None:
    """With hook_ids the link shows those hooks only; the others answer 404, and no hook can
    be created through it."""
    one = subscribe(client, auth, "https://a.example.com/in")
    two = subscribe(client, auth, "https://b.example.com/in")
    base = path_of(link(client, auth, hook_ids=[one["id"]])["url"]).removesuffix("/hooks")
    listing = client.get(base + "/hooks").text
    assert one["id"] in listing and two["id"] not in listing and "New hook" not in listing
    assert client.get(f"{base}/hooks/{one['id']}").status_code == 200
    assert client.get(f"{base}/hooks/{two['id']}").status_code == 404
    token = csrf_of(listing)
    assert (
        client.post(f"{base}/hooks/{two['id']}/pause", data={"csrf_token": token}).status_code
        == 404
    )
    assert client.get(f"{base}/hooks/new").status_code == 404


def test_a_scoped_link_filters_and_pages_its_hooks(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """The list of a link scoped to some hooks takes the same filters and pages as the
    account-wide one, and never shows a hook outside the scope."""
    hooks = [subscribe(client, auth, f"https://h{n}.example.com/in") for n in range(23)]
    client.patch(f"/v1/hooks/{hooks[0]['id']}", json={"status": "paused"}, headers=auth)
    outside = subscribe(client, auth, "https://outside.example.com/in")
    base = path_of(link(client, auth, hook_ids=[h["id"] for h in hooks])["url"])
    shown = [
        hook["id"]
        for page in (1, 2)
        for hook in hooks
        if hook["id"] in client.get(f"{base}?page={page}").text
    ]
    assert sorted(shown) == sorted(h["id"] for h in hooks)  # 20 on page 1, 3 on page 2
    assert outside["id"] not in client.get(f"{base}?page=2").text
    paused = client.get(f"{base}?status=paused").text
    assert hooks[0]["id"] in paused and hooks[1]["id"] not in paused


def test_a_link_cannot_be_widened(client: FlaskClient, auth: dict[str, str]) -> None:
    """Changing the hook list or the expiry inside the token breaks its signature (403)."""
    one = subscribe(client, auth, "https://a.example.com/in")
    two = subscribe(client, auth, "https://b.example.com/in")
    url = path_of(link(client, auth, hook_ids=[one["id"]], expires_in="5m")["url"])
    token = url.split("/")[2]
    payload, signature = token.rsplit(".", 1)
    codec = URLSafeSerializer("only-for-encoding", salt=PORTAL_SALT)  # never signs here
    claims = codec.load_payload(payload.encode())
    for change in ({"h": [one["id"], two["id"]]}, {"h": None}, {"e": claims["e"] + 86400}):
        widened = codec.dump_payload({**claims, **change}).decode()
        answer = client.get(f"/portal/{widened}.{signature}/hooks")
        assert answer.status_code == 403 and "This link is not valid" in answer.text
    other_key = URLSafeSerializer("another-server-key-0123456789abcdefghij", salt=PORTAL_SALT)
    assert client.get(f"/portal/{other_key.dumps(claims)}/hooks").status_code == 403
    assert client.get("/portal/garbage/hooks").status_code == 403


def test_an_expired_link_is_refused_with_a_clear_page(
    client: FlaskClient, auth: dict[str, str], clock: ManualClock
) -> None:
    """A link works until its expiry, then every page and action says it has expired."""
    url = path_of(link(client, auth, expires_in="15m")["url"])
    clock.advance(14 * 60)
    assert client.get(url).status_code == 200
    clock.advance(61)
    answer = client.get(url)
    assert answer.status_code == 400 and "This link has expired" in answer.text


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"expires_in": "10s"}, "$.expires_in"),
        ({"expires_in": "8d"}, "$.expires_in"),
        ({"expires_in": "soon"}, "$.expires_in"),
        ({"hook_ids": []}, "$.hook_ids"),
        ({"theme": {"accent_color": "red; x"}}, "$.theme.accent_color"),
        ({"theme": {"logo_url": "javascript:alert(1)"}}, "$.theme.logo_url"),
        ({"theme": {"logo_url": "http://plain.example.com/logo.png"}}, "$.theme.logo_url"),
        ({"theme": {"font": "x"}}, "$.theme"),
        ({"scope": "all"}, "$"),
    ],
)
def test_link_requests_are_checked(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any], path: str
) -> None:
    """Bad lifetimes, hook lists and theme values are 422s naming the field."""
    answer = client.post("/v1/portal-links", json=body, headers=auth)
    assert answer.status_code == 422
    assert answer.json["errors"][0]["path"] == path


def test_another_accounts_hook_cannot_be_put_in_a_link(
    client: FlaskClient, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    """hook_ids must be the caller's own live hooks."""
    theirs = subscribe(client, other_auth, "https://b.example.com/in")
    answer = client.post("/v1/portal-links", json={"hook_ids": [theirs["id"]]}, headers=auth)
    assert answer.status_code == 422 and answer.json["errors"][0]["path"] == "$.hook_ids[0]"


def test_links_need_a_key_and_a_secret_key(
    client: FlaskClient, make_app: Callable[..., Flask]
) -> None:
    """No API key: 401. A server without HOOKKIT_SECRET_KEY issues no links (404)."""
    assert client.post("/v1/portal-links", json={}).status_code == 401
    plain = make_app()
    from .conftest import _key

    answer = plain.test_client().post("/v1/portal-links", json={}, headers=_key(plain, "acme"))
    assert answer.status_code == 404


def test_framing_is_limited_to_the_configured_embedders(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    """The portal may be framed by HOOKKIT_PORTAL_FRAME_ANCESTORS only; the dashboard never."""
    page = client.get(path_of(link(client, auth)["url"]))
    csp = page.headers["Content-Security-Policy"]
    assert f"frame-ancestors {EMBEDDER}" in csp
    assert "X-Frame-Options" not in page.headers
    assert "unsafe-inline" not in csp and "script-src 'self';" in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
    dashboard = client.get("/dashboard/sign-in")
    assert "frame-ancestors 'none'" in dashboard.headers["Content-Security-Policy"]


def test_frame_ancestors_setting_is_checked() -> None:
    """A value that could end the CSP directive is refused at start-up, naming the variable."""
    Settings(portal_frame_ancestors="https://a.example.com https://*.example.org 'self'")
    with pytest.raises(ValueError, match="HOOKKIT_PORTAL_FRAME_ANCESTORS"):
        Settings(portal_frame_ancestors="https://a.example.com; script-src *")


def test_theme_is_applied_with_a_nonce(client: FlaskClient, auth: dict[str, str]) -> None:
    """The accent colour is set in a style block carrying this response's CSP nonce; the
    product name and logo appear in the header."""
    theme = {
        "accent_color": "#aa3300",
        "logo_url": "https://cdn.example.com/logo.png",
        "product_name": "Acme <Booth>",
    }
    page = client.get(path_of(link(client, auth, theme=theme)["url"]))
    nonce = re.search(r"'nonce-([^']+)'", page.headers["Content-Security-Policy"]).group(1)
    assert f'<style nonce="{nonce}">:root {{ --accent: #aa3300; }}</style>' in page.text
    assert "Acme &lt;Booth&gt; · Webhooks" in page.text
    assert 'src="https://cdn.example.com/logo.png"' in page.text


def test_portal_actions_need_the_links_csrf_token(
    client: FlaskClient, auth: dict[str, str], receiver: Receiver
) -> None:
    """A portal form carries a token derived from the link; without it a POST is refused."""
    hook = subscribe(client, auth, receiver.url)
    base = path_of(link(client, auth)["url"]).removesuffix("/hooks")
    page = client.get(f"{base}/hooks/{hook['id']}").text
    assert client.post(f"{base}/hooks/{hook['id']}/pause").status_code == 403
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "active"
    paused = client.post(f"{base}/hooks/{hook['id']}/pause", data={"csrf_token": csrf_of(page)})
    assert paused.status_code == 303 and paused.headers["Location"].startswith(base)
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "paused"
    sent = client.post(f"{base}/hooks/{hook['id']}/test", data={"csrf_token": csrf_of(page)})
    assert sent.status_code == 200


def test_portal_playground_preview(client: FlaskClient, auth: dict[str, str]) -> None:
    """The portal's event type page and its live preview work with the link's own CSRF
    token, and refuse a preview without it."""
    base = path_of(link(client, auth)["url"]).removesuffix("/hooks")
    page = client.get(f"{base}/event-types/session")
    assert page.status_code == 200 and "Mapping playground" in page.text
    body = {"event_type": "session", "mapping": "{kind: type}"}
    assert client.post(f"{base}/preview", json=body).status_code == 403
    answer = client.post(f"{base}/preview", json=body, headers={"X-CSRF-Token": csrf_of(page.text)})
    assert answer.status_code == 200 and answer.json == {"result": {"kind": "session"}}


def test_an_account_wide_link_can_create_hooks(
    client: FlaskClient, auth: dict[str, str], receiver: Receiver
) -> None:
    """Through a link for the whole account an end user creates a hook and sees its secret."""
    base = path_of(link(client, auth)["url"]).removesuffix("/hooks")
    form = client.get(f"{base}/hooks/new")
    assert form.status_code == 200
    created = client.post(
        f"{base}/hooks/new",
        data={"csrf_token": csrf_of(form.text), "event": "share", "target_url": receiver.url},
    )
    assert created.status_code == 200 and 'id="secret-value"' in created.text
    listed = client.get("/v1/hooks?event=share", headers=auth).json["subscriptions"]
    assert [h["target_url"] for h in listed] == [receiver.url]


def test_portal_replays_are_scoped_to_the_link(
    make_app: Callable[..., Flask], clock: ManualClock, receiver: Receiver
) -> None:
    """Through a link scoped to one hook, its replays can be started and cancelled with the
    link's CSRF token; a hook outside the scope, or another account's replay, answers 404
    and keeps running."""
    app = make_app(secret_key=SECRET_KEY, clock=clock, embedded_worker=False)
    client, auth, other_auth = app.test_client(), _key(app, "acme"), _key(app, "globex")
    shown, shown_replay = running_replay(client, auth, clock, receiver.url)
    hidden, hidden_replay = running_replay(client, auth, clock, receiver.url + "/b")
    _, their_replay = running_replay(client, other_auth, clock, receiver.url + "/c")
    base = path_of(link(client, auth, hook_ids=[shown["id"]])["url"]).removesuffix("/hooks")
    page = client.get(f"{base}/hooks/{shown['id']}").text
    assert shown_replay["id"] in page and ">Cancel replay</button>" in page
    token = csrf_of(page)
    form = {
        "csrf_token": token,
        "since": iso(clock() - 3600),
        "status": "all",
        "include_missed": "on",
    }

    assert client.post(f"{base}/hooks/{hidden['id']}/replay", data=form).status_code == 404
    # A delivery of the hidden hook cannot be retried, and the answer does not name the hook.
    publish(client, auth)
    (hidden_delivery, *_) = client.get(f"/v1/hooks/{hidden['id']}/deliveries", headers=auth).json[
        "deliveries"
    ]
    refused = client.post(
        f"{base}/deliveries/{hidden_delivery['id']}/retry", data={"csrf_token": token}
    )
    assert refused.status_code == 404 and hidden["id"] not in refused.text
    for replay in (hidden_replay, their_replay):
        cancel = client.post(f"{base}/replays/{replay['id']}/cancel", data={"csrf_token": token})
        assert cancel.status_code == 404 and hidden["id"] not in cancel.text
        assert client.get(f"{base}/replays/{replay['id']}").status_code == 404
    progress = client.get(f"{base}/replays/{shown_replay['id']}")
    assert progress.status_code == 200 and progress.json["status"] == "running"
    assert client.get(f"/v1/replays/{hidden_replay['id']}", headers=auth).json["status"] == (
        "running"
    )
    assert client.get(f"/v1/replays/{their_replay['id']}", headers=other_auth).json["status"] == (
        "running"
    )

    mine = f"{base}/replays/{shown_replay['id']}/cancel"
    assert client.post(mine).status_code == 403
    cancelled = client.post(mine, data={"csrf_token": token})
    assert cancelled.status_code == 303 and cancelled.headers["Location"].startswith(base)
    assert client.get(f"/v1/replays/{shown_replay['id']}", headers=auth).json["status"] == (
        "cancelled"
    )
    started = client.post(f"{base}/hooks/{shown['id']}/replay", data=form)
    assert started.status_code == 303 and started.headers["Location"].startswith(base)
    listed = client.get(f"/v1/hooks/{shown['id']}/replays", headers=auth).json["replays"]
    assert [r["status"] for r in listed] == ["running", "cancelled"]
    assert (listed[0]["scope"], listed[0]["include_missed"], listed[0]["total"]) == ("all", True, 2)


def test_portal_creates_thin_fifo_hooks(
    client: FlaskClient, auth: dict[str, str], receiver: Receiver
) -> None:
    """The portal's create form makes a thin FIFO hook like the API does (no 422 for the
    thin payload's events URL)."""
    base = path_of(link(client, auth)["url"]).removesuffix("/hooks")
    form = client.get(f"{base}/hooks/new").text
    created = client.post(
        f"{base}/hooks/new",
        data={
            "csrf_token": csrf_of(form),
            "event": "share",
            "target_url": receiver.url,
            "payload": "thin",
            "ordering": "fifo",
        },
    )
    assert created.status_code == 200, created.text
    (hook,) = client.get("/v1/hooks?event=share", headers=auth).json["subscriptions"]
    assert (hook["payload"], hook["ordering"]) == ("thin", "fifo")
