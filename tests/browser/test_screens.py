"""The dashboard and the portal in real Chromium, against a live hookkit and real receivers:
sign in, create a hook, send a test, pause and resume, retry after a failing receiver, the
mapping playground, a portal link in another site's iframe, and XSS strings left inert.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from connector.clock import ManualClock
from connector.service import Hookkit
from connector.testing import Receiver, Reply
from tests.conftest import _key, publish, subscribe, wait_until
from tests.live import served

SECRET_KEY = "browser-test-key-0123456789-abcdefghijkl"
PHONE = {"width": 390, "height": 844}


class Live:
    """A served hookkit, an API client on it, and the acme account's key."""

    def __init__(self, app: Flask, url: str) -> None:
        self.app, self.url = app, url
        self.client = app.test_client()
        self.auth = _key(app, "acme")
        self.key = self.auth["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def live(make_app: Callable[..., Flask]) -> Iterator[Live]:
    app = make_app(secret_key=SECRET_KEY)
    with served(app) as url:
        yield Live(app, url)


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def sign_in(page: Any, live: Live) -> None:
    page.goto(live.url + "/dashboard/hooks")
    page.get_by_label("API key").fill(live.key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/dashboard/hooks$"))


def test_sign_in_create_send_test_pause_resume(
    page: Any, live: Live, receiver: Receiver, screens_dir: Path
) -> None:
    """An operator signs in, creates a hook with a mapping checked as they type, copies the
    secret shown once, sends a test and sees the attempt, then pauses and resumes."""
    sign_in(page, live)
    page.get_by_role("link", name="New hook").click()
    page.get_by_label("Event", exact=True).select_option("session")
    page.get_by_label("Target URL", exact=True).fill(receiver.url + "/photos")
    page.get_by_label("Description").fill("Booth photos")
    page.get_by_label("Mapping").fill("{id: id, photo: data.session.direct_url")
    preview = page.locator("#preview-output")
    preview.filter(has_text="position").wait_for()
    page.get_by_label("Mapping").fill("{id: id, photo: data.session.direct_url}")
    preview.filter(has_text='"photo"').wait_for()
    shot(page, screens_dir, "create")
    page.get_by_role("button", name="Create hook").click()
    secret = page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()
    page.get_by_role("link", name="Open the hook").click()
    assert secret not in page.content()

    page.get_by_role("button", name="Send test").click()
    result = page.locator("#test-result")
    result.wait_for()
    assert "200" in result.inner_text()
    (sent,) = receiver.wait_for(1)
    assert set(sent.json()) == {"id", "photo"}
    shot(page, screens_dir, "hook")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Description").fill("Booth photos (all)")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Saved.").wait_for()
    page.get_by_role("heading", name="Booth photos (all)").wait_for()

    page.get_by_role("button", name="Pause").click()
    page.get_by_text("Paused: no events are sent").wait_for()
    page.get_by_role("button", name="Resume").click()
    page.get_by_text("Resumed: events are sent again.").wait_for()
    assert page.get_by_role("button", name="Pause").is_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Hooks").click()
    page.get_by_role("link", name="Booth photos (all)").wait_for()
    shot(page, screens_dir, "hooks")
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the hooks list scrolls sideways on a phone"
    shot(page, screens_dir, "hooks-phone")


def test_retry_after_fixing_the_receiver(page: Any, live: Live) -> None:
    """A delivery to a failing receiver shows as failed; once the receiver answers again,
    "Retry" sends it with the same webhook-id and the log shows it delivered."""
    with Receiver([Reply(500, b"database down")]) as flaky:
        hook = subscribe(
            live.client, live.auth, flaky.url, retry_schedule="none", log_response_body=True
        )
        publish(live.client, live.auth)
        flaky.wait_for(1)
        log = f"/v1/hooks/{hook['id']}/deliveries"
        wait_until(
            lambda: (
                live.client.get(log, headers=live.auth).json["deliveries"][0]["status"] == "failed"
            )
        )
        sign_in(page, live)
        page.goto(f"{live.url}/dashboard/hooks/{hook['id']}")
        row = page.locator(".delivery").first
        assert "failed" in row.inner_text()
        row.get_by_text("Attempts").click()
        row.get_by_text("Response body").click()
        row.get_by_text("database down").wait_for()
        flaky.reply_with([Reply(200)])
        row.get_by_role("button", name="Retry").click()
        page.get_by_text("Queued: the delivery goes out again").wait_for()
        first, second = flaky.wait_for(2)
        assert first.header("webhook-id") == second.header("webhook-id")

        def delivered() -> bool:
            page.reload()
            return "delivered" in page.locator(".delivery").first.inner_text()

        wait_until(delivered, every=0.2)


@contextmanager
def working(app: Flask) -> Iterator[None]:
    """A delivery worker on `app`'s service while the block runs."""
    hk = Hookkit.of(app)
    worker = hk.new_worker()
    worker.start()
    try:
        yield
    finally:
        hk.signal.forget(worker.wake)
        worker.stop()


def test_replay_after_fixing_the_receiver(
    page: Any, make_app: Callable[..., Flask], screens_dir: Path
) -> None:
    """Two deliveries fail for good; once the receiver answers again, "Replay" with the form
    as first shown (failed deliveries of the last hour) sends both again with their
    webhook-ids, and the page follows the replay's progress until it is done.

    The app's worker runs only when the test says, so the replay is seen running first."""
    app = make_app(secret_key=SECRET_KEY, embedded_worker=False)
    with Receiver([Reply(503)]) as flaky, served(app) as url:
        live = Live(app, url)
        hook = subscribe(live.client, live.auth, flaky.url, retry_schedule="none")
        publish(live.client, live.auth)
        publish(live.client, live.auth)
        log = f"/v1/hooks/{hook['id']}/deliveries?status=failed"
        with working(app):
            wait_until(lambda: len(live.client.get(log, headers=live.auth).json["deliveries"]) == 2)
        failed = {r.header("webhook-id") for r in flaky.requests}
        assert len(failed) == 2
        sign_in(page, live)
        page.goto(f"{live.url}/dashboard/hooks/{hook['id']}")
        flaky.reply_with(None)
        replay = page.locator("#replay")
        assert replay.get_by_label("Deliveries").input_value() == "failed"
        replay.get_by_role("button", name="Replay", exact=True).click()
        page.get_by_text("Replay started").wait_for()
        row = replay.locator(".replays tbody tr").first
        assert "running" in row.inner_text() and "0 of 2 queued" in row.inner_text()
        assert row.get_by_role("button", name="Cancel replay").is_visible()
        with working(app):
            row.locator(".badge.done").wait_for()  # followed live, without a reload
            again = {r.header("webhook-id") for r in flaky.wait_for(4)[2:]}
        assert again == failed
        assert "2 of 2 queued" in row.inner_text()
        assert row.get_by_role("button", name="Cancel replay").count() == 0
        replay.screenshot(path=str(screens_dir / "replay.png"))


def test_mapping_playground(page: Any, live: Live, screens_dir: Path) -> None:
    """The playground shows the mapped body as you type, and a broken expression's error
    with its position."""
    sign_in(page, live)
    page.get_by_role("link", name="Event types").click()
    page.get_by_role("link", name="Session").click()
    page.get_by_role("cell", name="session.id").first.wait_for()
    page.get_by_label("Mapping").fill("{photo: data.session.direct_url, kind: type}")
    page.get_by_label("Custom values").fill('{"source": "booth"}')
    output = page.locator("#preview-output")
    output.filter(has_text='"source": "booth"').wait_for()
    assert '"kind": "session"' in output.inner_text()
    shot(page, screens_dir, "playground")
    page.get_by_label("Mapping").fill("data.session.[id")
    page.get_by_text("Error at position 16").wait_for()
    assert "^" in output.inner_text()


def test_portal_link_in_an_iframe(
    page: Any, make_app: Callable[..., Flask], clock: ManualClock, screens_dir: Path
) -> None:
    """A link scoped to one hook opens in the product's iframe (an allowed embedder) themed
    as the product, shows only that hook, is refused by other embedders, and shows a clear
    page once expired."""
    with Receiver() as embedder, Receiver() as stranger:
        app = make_app(secret_key=SECRET_KEY, clock=clock, portal_frame_ancestors=embedder.url)
        with served(app) as url:
            live = Live(app, url)
            shown = subscribe(
                live.client, live.auth, "https://a.example.com/in", description="Shown"
            )
            hidden = subscribe(
                live.client, live.auth, "https://b.example.com/in", description="Hidden"
            )
            made = live.client.post(
                "/v1/portal-links",
                json={
                    "expires_in": "15m",
                    "hook_ids": [shown["id"]],
                    "theme": {"accent_color": "#8a2be2", "product_name": "Acme Booth"},
                },
                headers=live.auth,
            ).json
            link = made["url"].replace("http://localhost", url)
            frame_page = (
                f"<!doctype html><title>Acme settings</title><h1>Acme settings</h1>"
                f'<iframe title="Webhooks" src="{link}" width="1100" height="620"></iframe>'
            ).encode()
            embedder.reply_with(
                lambda _: Reply(200, frame_page, headers={"Content-Type": "text/html"})
            )
            stranger.reply_with(
                lambda _: Reply(200, frame_page, headers={"Content-Type": "text/html"})
            )

            answers: list[Any] = []
            page.on("response", lambda r: answers.append(r) if "/portal/" in r.url else None)
            page.goto(embedder.url + "/settings")
            frame = page.frame_locator("iframe[title=Webhooks]")
            frame.get_by_role("link", name="Shown").wait_for()
            assert frame.get_by_text("Acme Booth · Webhooks").is_visible()
            assert frame.get_by_role("link", name="Hidden").count() == 0
            csp = answers[0].headers["content-security-policy"]
            assert f"frame-ancestors {embedder.url}" in csp
            shot(page, screens_dir, "portal")

            frame.get_by_role("link", name="Shown").click()
            frame.get_by_role("button", name="Pause").click()
            frame.get_by_text("Paused: no events are sent").wait_for()
            hook_state = live.client.get(f"/v1/hooks/{shown['id']}", headers=live.auth).json
            assert hook_state["status"] == "paused"
            assert hidden["id"] not in page.frames[1].content()

            other = page.context.new_page()
            blocked: list[str] = []
            other.on("console", lambda m: blocked.append(m.text))
            other.goto(stranger.url + "/settings")
            other.wait_for_timeout(500)  # a refused frame never loads; nothing to wait for
            inner = other.frames[1] if len(other.frames) > 1 else None
            assert inner is None or "Shown" not in inner.content()
            assert any("frame-ancestors" in text for text in blocked)

            clock.advance(16 * 60)
            page.reload()
            frame.get_by_text("This link has expired").wait_for()


def test_xss_strings_stay_inert(page: Any, live: Live) -> None:
    """Script and attribute-breaking strings in a hook and a receiver's answer are shown as
    text: no dialog opens, nothing runs."""
    attack = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    with Receiver([Reply(500, attack.encode())]) as bad:
        hook = subscribe(
            live.client,
            live.auth,
            bad.url + '/x?"><svg/onload=alert(3)>',
            description=attack,
            custom_values={"note": attack},
            log_response_body=True,
        )
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        sign_in(page, live)
        page.get_by_role("link", name=attack).wait_for()
        page.get_by_role("link", name=attack).click()
        page.get_by_role("button", name="Send test").focus()
        page.keyboard.press("Enter")  # every control is a native, keyboard-usable one
        page.locator("#test-result").get_by_text(attack).wait_for()
        page.goto(f"{live.url}/dashboard/hooks/{hook['id']}")
        page.locator(".delivery").first.wait_for()
    assert dialogs == []
    assert (
        page.evaluate(
            "document.querySelectorAll('main script, main img, main svg:not(.chart)').length"
        )
        == 0
    )
    assert Hookkit.of(live.app).settings.secret_key  # the dashboard was on for this test
