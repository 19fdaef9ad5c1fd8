"""Hardening: plain http:// after a switch to production, SMTP passwords in clear, secrets in
`repr(Settings)`, short link keys, and target URL tokens in logged notices.

Through the API and real processes: receivers on 127.0.0.1 and a real SMTP server
(aiosmtpd, as in test_notify.py)."""

from __future__ import annotations

import logging

import pytest

from connector.config import MIN_SECRET_KEY_LENGTH, Settings
from connector.testing import Receiver, Reply

from .conftest import _key, deliveries_of, publish, subscribe, wait_until
from .test_notify import OPS, Mailbox, _serve

LINK_KEY = "k" * MIN_SECRET_KEY_LENGTH


# -- plain http:// in production ----------------------------------------------------------------


def test_an_http_hook_from_development_is_not_sent_in_production(make_app, clock):
    """App A (development: http:// and loopback allowed, no worker) saves an http:// hook;
    app B on the same database, in production mode, publishes. Nothing is sent; the attempt
    error names the scheme and the setting, and the delivery is retried like other failures."""
    development = make_app(allow_private_targets=True, embedded_worker=False)
    dev_client, auth = development.test_client(), _key(development, "acme")
    production = make_app(clock=clock, allow_private_targets=False)
    client = production.test_client()
    with Receiver() as receiver:
        hook = subscribe(dev_client, auth, receiver.url + "/hook")
        assert hook["target_url"].startswith("http://")
        publish(client, auth)

        def attempted():
            found = deliveries_of(client, auth, hook["id"])["deliveries"]
            return found and found[0]["attempts"] and found[0]

        delivery = wait_until(attempted)
    assert receiver.requests == []
    (tried,) = delivery["attempts"]
    assert tried["response_code"] is None
    assert tried["error"].startswith("not sent: http:// targets are refused"), tried["error"]
    assert "HOOKKIT_ALLOW_PRIVATE_TARGETS" in tried["error"]
    assert tried["outcome"] == "retrying" and delivery["status"] == "pending"


def test_an_http_hook_to_a_public_name_is_not_sent_through_a_proxy_either(make_app, clock):
    """The case the connect-time address check cannot catch: a public name over http://.
    Production app B sends through HOOKKIT_HTTP_PROXY (a local receiver standing in for the
    proxy, which would forward in plain text); the request never reaches it."""
    development = make_app(allow_private_targets=True, embedded_worker=False)
    dev_client, auth = development.test_client(), _key(development, "acme")
    with Receiver() as proxy:
        production = make_app(clock=clock, allow_private_targets=False, http_proxy=proxy.url)
        client = production.test_client()
        hook = subscribe(dev_client, auth, "http://hooks.example.com/in?token=abc")
        publish(client, auth)

        def attempted():
            found = deliveries_of(client, auth, hook["id"])["deliveries"]
            return found and found[0]["attempts"] and found[0]

        delivery = wait_until(attempted)
    assert proxy.requests == [], "sent in plain text through the proxy"
    assert delivery["attempts"][0]["error"].startswith("not sent: http:// targets are refused")


def test_https_and_development_http_are_still_sent(make_app):
    """The scheme check refuses nothing development mode allows: http:// to a local receiver."""
    app = make_app(allow_private_targets=True)
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver() as receiver:
        subscribe(client, auth, receiver.url)
        publish(client, auth)
        receiver.wait_for(1)


# -- SMTP passwords -----------------------------------------------------------------------------


@pytest.fixture
def auth_mailbox():
    """A real SMTP server that takes AUTH without TLS (as a careless relay would)."""
    box = Mailbox()
    controller = _serve(box, authenticator=box.authenticate, auth_require_tls=False)
    box.url = f"smtp://mailer:p%40ss%3Aw%2Frd@127.0.0.1:{controller.port}"
    yield box
    controller.stop()


def test_a_password_over_plain_smtp_is_refused_at_start_up(make_app, auth_mailbox):
    """smtp://user:pass@host without STARTTLS stops start-up, naming the ways out, not the
    password; the server never sees a login."""
    with pytest.raises(ValueError, match="insecure=true") as refused:
        make_app(smtp_url=auth_mailbox.url)
    assert "HOOKKIT_SMTP_URL" in str(refused.value)
    assert "p@ss" not in str(refused.value) and "p%40ss" not in str(refused.value)
    assert auth_mailbox.logins == []


def test_insecure_true_allows_it_with_a_warning(make_app, auth_mailbox, caplog):
    """`?insecure=true` allows AUTH over plain TCP: a start-up warning (no password in it),
    and the failure e-mail arrives through the logged-in server."""
    with caplog.at_level(logging.WARNING, logger="hookkit.notify"):
        app = make_app(smtp_url=auth_mailbox.url + "?insecure=true", retry_schedule="")
    warnings = [r.getMessage() for r in caplog.records if r.name == "hookkit.notify"]
    assert any("sent unencrypted" in w and "mailer@127.0.0.1" in w for w in warnings), warnings
    assert "p@ss" not in caplog.text
    client, auth = app.test_client(), _key(app, "acme")
    client.patch("/v1/account", json={"notification_email": OPS}, headers=auth)
    with Receiver([Reply(500)]) as receiver:
        subscribe(client, auth, receiver.url)
        publish(client, auth)
        (mail,) = auth_mailbox.wait_for(1)
    assert mail["To"] == OPS
    assert auth_mailbox.logins == [("mailer", "p@ss:w/rd")]


# -- Settings -----------------------------------------------------------------------------------


def test_repr_of_settings_hides_passwords_and_keys():
    """repr(Settings) (e.g. in a traceback or a debug log) shows no SMTP or database password
    and no link key; everything else stays readable."""
    settings = Settings(
        smtp_url="smtps://mailer:hunter2-smtp@mail.example.com:465",
        database_url="postgresql+psycopg://hookkit:hunter2-db@db/hookkit",
        secret_key="hunter2-link-key-" + "x" * 32,
    )
    shown = repr(settings)
    assert "hunter2" not in shown
    assert "smtp_url='smtps://mailer:***@mail.example.com:465'" in shown
    assert "database_url='postgresql+psycopg://hookkit:***@db/hookkit'" in shown
    assert "secret_key='***'" in shown
    assert "public_url=''" in shown and "secret_grace=86400.0" in shown


@pytest.mark.parametrize("key", ["x", "short-key", "k" * (MIN_SECRET_KEY_LENGTH - 1)])
def test_a_short_secret_key_stops_start_up(make_app, key):
    """HOOKKIT_SECRET_KEY signs one-click links: fewer than 32 characters is refused, and the
    message never repeats the key."""
    with pytest.raises(ValueError, match="HOOKKIT_SECRET_KEY is too short") as refused:
        make_app(public_url="http://localhost", secret_key=key)
    assert f"'{key}'" not in str(refused.value)
    with pytest.raises(ValueError, match="HOOKKIT_SECRET_KEY"):
        Settings.from_env({"HOOKKIT_SECRET_KEY": key})


@pytest.mark.parametrize("key", ["", LINK_KEY])
def test_an_empty_or_long_enough_secret_key_is_accepted(make_app, key):
    """Empty still turns links off; 32 characters or more is fine."""
    client = make_app(public_url="http://localhost", secret_key=key).test_client()
    assert client.get("/healthz").status_code == 200


# -- logged notices -----------------------------------------------------------------------------


def test_logged_notices_mask_query_tokens(make_app, caplog):
    """Without SMTP, a failure notice is logged: the target URL's query values are `***`,
    since hook URLs often carry their credentials there."""
    app = make_app(retry_schedule="")
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver([Reply(500)]) as receiver:
        hook = subscribe(client, auth, receiver.url + "/in?token=s3cr3t-token&zap=42&flag")
        publish(client, auth)

        def logged():
            lines = [r.getMessage() for r in caplog.records if r.name == "hookkit.notify"]
            return [line for line in lines if "not e-mailing" in line]

        (line,) = wait_until(logged)
    assert f"{receiver.url}/in?token=***&zap=***&***" in line, line
    assert "s3cr3t-token" not in caplog.text
    assert hook["id"] in line
