"""Failure e-mails end to end through a real SMTP server (aiosmtpd) on 127.0.0.1, and the
signed one-click links they carry."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import threading
import time
from dataclasses import replace
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as email_policy
from typing import Any

import itsdangerous
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from connector.clock import ManualClock
from connector.delivery.jobs import Notice
from connector.delivery.notify import Notifier, NotifyPolicy, SmtpServer, parse_smtp_url
from connector.hooks.accounts import (
    account_by_name,
    create_key,
    ensure_account,
    list_keys,
    revoke_key,
)
from connector.service import Hookkit
from connector.testing import Receiver, Reply

from .conftest import _key, free_port, publish, subscribe, wait_until

OPS = "ops@example.com"
LINK_KEY = "test-link-key-of-32-characters-or-more"  # HOOKKIT_SECRET_KEY needs 32
FAILING = [Reply(500, b"Internal Server Error")]


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[tuple[str, str]] = []
        self._cond = threading.Condition()
        self.url = ""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=email_policy)
        with self._cond:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._cond.notify_all()
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == ("mailer", "p@ss:w/rd"))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} e-mails, got {len(self.messages)}")
                self._cond.wait(left)
            return list(self.messages)


def _serve(box: Mailbox, **options: Any) -> Controller:
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Any:
    box = Mailbox()
    controller = _serve(box)
    box.url = f"smtp://127.0.0.1:{controller.port}"
    yield box
    controller.stop()


@pytest.fixture
def failing_receiver() -> Any:
    """A receiver that answers every request 500 Internal Server Error."""
    failing = Receiver(FAILING).__enter__()
    yield failing
    # close() waits out the server's half-second poll; no test needs to wait for that
    threading.Thread(target=failing.close, daemon=True).start()


@pytest.fixture
def mail_app(make_app, mailbox):
    """A service that e-mails `mailbox`, disables hooks after 2 exhausted deliveries, has links."""
    return make_app(
        smtp_url=mailbox.url,
        failure_threshold=2,
        public_url="http://localhost",
        secret_key=LINK_KEY,
        retry_schedule="20ms,20ms",
    )


@pytest.fixture
def client(mail_app):
    return mail_app.test_client()


@pytest.fixture
def auth(mail_app, client):
    """Account `acme` with ops@example.com as its notification address."""
    headers = _key(mail_app, "acme")
    response = client.patch("/v1/account", json={"notification_email": OPS}, headers=headers)
    assert response.status_code == 200
    return headers


def _link(message: EmailMessage, label: str) -> str:
    """The path of the one-click link after `label:` in the e-mail body."""
    match = re.search(rf"{re.escape(label)}:\s+http://localhost(/actions/\S+)", _body(message))
    assert match, f"no {label!r} link in:\n{_body(message)}"
    return match.group(1)


def _body(message: EmailMessage) -> str:
    return message.get_content()  # type: ignore[no-any-return]


def _fail(client, auth, mailbox, count: int = 1) -> EmailMessage:
    """Publish an event the receiver fails; the `count`th e-mail, once it arrived."""
    publish(client, auth)
    return mailbox.wait_for(count)[-1]


def _delivery(client, auth, hook_id: str) -> dict[str, Any]:
    (delivery,) = client.get(f"/v1/hooks/{hook_id}/deliveries", headers=auth).json["deliveries"]
    return delivery


# -- the e-mails ---------------------------------------------------------------------------------


def test_exhausted_delivery_sends_one_email(client, auth, mailbox, failing_receiver):
    """An exhausted delivery e-mails the account: hook name and URL, event, status, error."""
    hook = subscribe(client, auth, failing_receiver.url + "/crm", description="Orders to CRM")
    mail = _fail(client, auth, mailbox)
    assert len(failing_receiver.requests) == 3  # the first try and both retries came first

    assert mail["To"] == OPS
    assert mail["From"] == "hookkit@localhost"
    assert mail["Subject"] == "[hookkit] Webhook failed: Orders to CRM (session, status 500)"
    body = _body(mail)
    assert "Webhook failed with status 500 \u2013 Internal Server Error." in body
    assert f"Orders to CRM ({hook['id']})" in body
    assert failing_receiver.url + "/crm" in body
    assert "Event type:  session" in body
    assert "Status code: 500" in body
    assert "Error:       HTTP 500 Internal Server Error" in body
    assert mailbox.envelopes == [("hookkit@localhost", [OPS])]


def test_second_exhausted_delivery_disables_the_hook_and_says_so(
    client, auth, mailbox, failing_receiver
):
    """Reaching the failure threshold marks the hook failed and e-mails that, naming its id."""
    hook = subscribe(client, auth, failing_receiver.url)
    _fail(client, auth, mailbox)
    mail = _fail(client, auth, mailbox, count=2)

    assert mail["Subject"] == f"[hookkit] Webhook disabled: {hook['id']}"
    body = _body(mail)
    assert f"Webhook {hook['id']!r} was disabled after 2 deliveries in a row failed" in body
    assert "status 500 \u2013 Internal Server Error" in body
    assert "Resume this hook:" in body
    shown = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
    assert shown["status"] == "failed"


@pytest.mark.parametrize("smtp", [True, False], ids=["no-address", "no-smtp-url"])
def test_without_address_or_server_the_notice_is_logged(
    make_app, mailbox, failing_receiver, caplog, smtp
):
    """No address (or no SMTP URL): no e-mail, a warning in the log, the service keeps going."""
    app = make_app(smtp_url=mailbox.url if smtp else "", retry_schedule="", failure_threshold=2)
    client = app.test_client()
    auth = _key(app, "acme")
    if not smtp:
        client.patch("/v1/account", json={"notification_email": OPS}, headers=auth)
    subscribe(client, auth, failing_receiver.url)
    publish(client, auth)
    reason = "no notification address" if smtp else "HOOKKIT_SMTP_URL is not set"
    wait_until(lambda: [r for r in caplog.records if reason in r.getMessage()])

    assert mailbox.messages == []
    assert "not e-mailing: delivery_failed" in caplog.text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert client.get("/v1/hooks", headers=auth).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "ftp://mail.example.com",
        "mail.example.com",
        "smtp://",
        "smtp://mail.example.com:port",
        "smtp://mail.example.com:70000",
        "smtp://mail.example.com?starttls=maybe",
        "smtp://mail.example.com?tls=true",
        "smtps://mail.example.com?starttls=true",
        "smtp://:s3cret@mail.example.com",
        "smtp://mail.example.com/inbox",
    ],
)
def test_bad_smtp_url_stops_start_up(make_app, url):
    """A malformed SMTP URL is a start-up error naming HOOKKIT_SMTP_URL, never the password."""
    with pytest.raises(ValueError, match="HOOKKIT_SMTP_URL") as raised:
        make_app(smtp_url=url)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpServer("mail.example.com", 25, "none")),
        ("smtp://mail.example.com:2525/", SmtpServer("mail.example.com", 2525, "none")),
        (
            "smtp://mail.example.com:587?starttls=true",
            SmtpServer("mail.example.com", 587, "starttls"),
        ),
        ("smtp://mail.example.com?starttls=false", SmtpServer("mail.example.com", 25, "none")),
        ("smtps://mail.example.com", SmtpServer("mail.example.com", 465, "tls")),
        (
            "smtps://me%40example.com:p%40ss%3Aw%2Frd@mail.example.com:1465",
            SmtpServer("mail.example.com", 1465, "tls", "me@example.com", "p@ss:w/rd"),
        ),
        ("", None),
    ],
)
def test_smtp_url_forms(url, expected):
    """The URL forms: plain, STARTTLS, implicit TLS, default ports, percent-decoded login."""
    assert parse_smtp_url(url) == expected


# -- grouping and cooldown (the Notifier on its own, same SMTP server) ---------------------------


def _notice(account_id: str, hook: str, n: int, kind: str = "delivery_failed") -> Notice:
    return Notice(
        kind=kind,
        account_id=account_id,
        subscription_id=hook,
        description=f"Hook {hook}",
        target_url=f"https://{hook}.example.com/in",
        event_type="session",
        delivery_id=f"msg_{hook}_{n}",
        response_code=502,
        error="HTTP 502 Bad Gateway",
        extra={"streak": 2} if kind == "hook_disabled" else {},
    )


@pytest.fixture
def notifier_for(mail_app, mailbox):
    """Build a Notifier on the service's store whose clock the test moves."""
    service = Hookkit.of(mail_app)
    acme = ensure_account(service.store, "acme", notification_email=OPS)
    globex = ensure_account(service.store, "globex", notification_email="it@globex.example")
    clock = ManualClock(1000.0)

    def make(ssl_context: Any = None, **settings: Any) -> tuple[Notifier, ManualClock, str, str]:
        notifier = Notifier(
            replace(service.settings, **settings),
            service.store,
            policy=NotifyPolicy(cooldown=600),
            clock=clock,
            ssl_context=ssl_context,
        )
        return notifier, clock, acme.id, globex.id

    return make


def test_a_batch_becomes_one_email_per_account(notifier_for, mailbox):
    """Notices of one batch are grouped: one e-mail per account, holding only its own hooks."""
    notifier, _, acme, globex = notifier_for()
    notifier.send(
        [
            _notice(acme, "hook_a", 1),
            _notice(acme, "hook_b", 1),
            _notice(globex, "hook_g", 1),
            _notice(acme, "hook_b", 2, kind="hook_disabled"),
        ]
    )

    assert len(mailbox.messages) == 2
    by_address = {m["To"]: m for m in mailbox.messages}
    assert sorted(by_address) == ["it@globex.example", OPS]
    ours, theirs = _body(by_address[OPS]), _body(by_address["it@globex.example"])
    assert by_address[OPS]["Subject"] == "[hookkit] 1 webhook disabled, 2 failed deliveries"
    assert "Hook hook_a" in ours and "Hook hook_b" in ours and "hook_g" not in ours
    assert "hook_g" in theirs and "hook_a" not in theirs and "hook_b" not in theirs
    assert "Webhook failed with status 502 \u2013 Bad Gateway." in ours


def test_cooldown_holds_back_repeat_failures_of_a_hook(notifier_for, mailbox):
    """A failing hook e-mails once per cooldown; the next e-mail counts what was held back."""
    notifier, clock, acme, _ = notifier_for()
    notifier.send([_notice(acme, "hook_a", n) for n in range(1, 4)])  # a burst in one batch
    (first,) = mailbox.messages
    assert first["Subject"] == "[hookkit] 3 failed deliveries"
    assert "msg_hook_a_1" in _body(first) and "msg_hook_a_2" not in _body(first)
    assert "Plus 2 more failed deliveries of this hook" in _body(first)

    clock.advance(60)
    notifier.send([_notice(acme, "hook_a", 4)])
    assert len(mailbox.messages) == 1  # send() is synchronous: nothing more is coming

    clock.advance(600)
    notifier.send([_notice(acme, "hook_a", 5)])
    assert len(mailbox.messages) == 2
    assert "Plus 1 more failed delivery of this hook" in _body(mailbox.messages[1])


def test_hook_disabled_is_never_held_back(notifier_for, mailbox):
    """The e-mail saying a hook was disabled goes out even inside the cooldown."""
    notifier, clock, acme, _ = notifier_for()
    notifier.send([_notice(acme, "hook_a", 1)])
    clock.advance(1)
    notifier.send([_notice(acme, "hook_a", 2), _notice(acme, "hook_a", 2, kind="hook_disabled")])

    assert len(mailbox.messages) == 2
    assert mailbox.messages[1]["Subject"] == "[hookkit] Webhook disabled: Hook hook_a"


def test_no_links_without_public_url_and_secret_key(notifier_for, mailbox):
    """Links are only offered when both HOOKKIT_PUBLIC_URL and HOOKKIT_SECRET_KEY are set."""
    notifier, _, acme, _ = notifier_for(secret_key="")
    notifier.send([_notice(acme, "hook_a", 1)])
    (mail,) = mailbox.messages
    assert "/actions/" not in _body(mail)
    assert "Retry this delivery" not in _body(mail)


def test_unreachable_smtp_server_is_logged_not_raised(notifier_for, mailbox, caplog):
    """An SMTP server that refuses connections costs a log line, never an exception."""
    notifier, _, acme, _ = notifier_for(smtp_url=f"smtp://127.0.0.1:{free_port()}")
    notifier.send([_notice(acme, "hook_a", 1)])
    assert "e-mailing through 127.0.0.1" in caplog.text
    assert "msg_hook_a_1" in caplog.text
    assert mailbox.messages == []


# -- TLS and authentication -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A throwaway self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = str(where / "cert.pem"), str(where / "key.pem")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_tls_and_login(notifier_for, certificate, mode):
    """STARTTLS and implicit TLS both work, and the percent-decoded login is what is sent."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box = Mailbox()
    if mode == "starttls":
        options = {"tls_context": server_tls, "require_starttls": True, "auth_require_tls": True}
    else:  # aiosmtpd cannot tell the socket is TLS already, so it must not insist on STARTTLS
        options = {"ssl_context": server_tls, "auth_require_tls": False}
    controller = _serve(box, authenticator=box.authenticate, **options)
    try:
        scheme, query = ("smtp", "?starttls=true") if mode == "starttls" else ("smtps", "")
        url = f"{scheme}://mailer:p%40ss%3Aw%2Frd@127.0.0.1:{controller.port}{query}"
        trusting = ssl.create_default_context(cafile=cert)
        notifier, _, acme, _ = notifier_for(ssl_context=trusting, smtp_url=url)
        notifier.send([_notice(acme, "hook_a", 1)])
    finally:
        controller.stop()
    assert box.logins == [("mailer", "p@ss:w/rd")]
    (mail,) = box.messages
    assert mail["To"] == OPS


# -- one-click links ------------------------------------------------------------------------------


def test_retry_link_asks_on_get_and_redelivers_on_post(client, auth, mailbox, failing_receiver):
    """GET shows a confirmation form and changes nothing; POST re-sends the same message."""
    hook = subscribe(client, auth, failing_receiver.url)
    mail = _fail(client, auth, mailbox)
    link = _link(mail, "Retry this delivery")
    failing_receiver.reply_with([Reply(200)])

    page = client.get(link)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert '<form method="post">' in page.text and "Retry delivery" in page.text
    delivery = _delivery(client, auth, hook["id"])
    assert (delivery["status"], delivery["attempt_count"]) == ("failed", 3)

    done = client.post(link)
    assert done.status_code == 200 and "Delivery queued" in done.text
    requests = failing_receiver.wait_for(4)
    assert requests[3].header("webhook-id") == requests[0].header("webhook-id") == delivery["id"]
    wait_until(lambda: _delivery(client, auth, hook["id"])["status"] == "delivered")


def test_forged_or_damaged_links_are_refused(client, auth, mailbox, failing_receiver):
    """A link signed with another key or altered in transit is refused (403) and does nothing."""
    hook = subscribe(client, auth, failing_receiver.url)
    mail = _fail(client, auth, mailbox)
    link = _link(mail, "Pause this hook")
    token = link.removeprefix("/actions/")
    middle = len(token) // 4  # inside the signed payload, not a padding bit
    damaged = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    forged = itsdangerous.URLSafeTimedSerializer("guessed-key", salt="hookkit-action").dumps(
        {"action": "pause", "account_id": "acc_x", "hook_id": hook["id"]}
    )
    for token in (forged, damaged):
        for method in (client.get, client.post):
            refused = method(f"/actions/{token}")
            assert refused.status_code == 403, token
            assert "This link is not valid" in refused.text
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "active"


def test_a_link_expires_seven_days_after_it_was_made(make_app, mailbox, failing_receiver, clock):
    """A link made now works until seven days have passed on the service's clock; then GET
    and POST answer 400 saying it expired, and the hook stays as it was."""
    app = make_app(
        clock=clock,
        smtp_url=mailbox.url,
        public_url="http://localhost",
        secret_key=LINK_KEY,
        retry_schedule="",  # the first failure is final: the e-mail comes at once
    )
    client, auth = app.test_client(), _key(app, "acme")
    client.patch("/v1/account", json={"notification_email": OPS}, headers=auth)
    hook = subscribe(client, auth, failing_receiver.url)
    link = _link(_fail(client, auth, mailbox), "Pause this hook")

    clock.advance(7 * 86400 - 60)
    assert client.get(link).status_code == 200
    clock.advance(120)
    for method in (client.get, client.post):
        refused = method(link)
        assert refused.status_code == 400
        assert "expired" in refused.text
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "active"


def test_pause_link_pauses_the_hook(client, auth, mailbox, failing_receiver):
    """The pause link in a failure e-mail pauses the hook once the button is pressed."""
    hook = subscribe(client, auth, failing_receiver.url)
    link = _link(_fail(client, auth, mailbox), "Pause this hook")
    assert client.get(link).status_code == 200
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "active"
    assert client.post(link).status_code == 200
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "paused"


def test_a_link_works_once(client, auth, mailbox, failing_receiver):
    """After its button was pressed, the link answers 410 on GET and POST and does nothing:
    a copy of the e-mail (a forwarded message, a mailbox someone else reads) is worth nothing."""
    hook = subscribe(client, auth, failing_receiver.url)
    mail = _fail(client, auth, mailbox)
    pause = _link(mail, "Pause this hook")
    assert client.post(pause).status_code == 200
    resumed = client.patch(f"/v1/hooks/{hook['id']}", json={"status": "active"}, headers=auth)
    assert resumed.status_code == 200
    for method in (client.get, client.post):
        again = method(pause)
        assert again.status_code == 410, again.text
        assert "used already" in again.text
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "active"


def test_a_link_whose_action_fails_can_be_used_again(client, auth, mailbox, failing_receiver):
    """A retry refused because the hook is paused does not use the link up."""
    hook = subscribe(client, auth, failing_receiver.url)
    link = _link(_fail(client, auth, mailbox), "Retry this delivery")
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "paused"}, headers=auth)
    assert client.post(link).status_code == 409
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "active"}, headers=auth)
    failing_receiver.reply_with([Reply(200)])
    assert client.post(link).status_code == 200
    assert client.post(link).status_code == 410


def test_links_stop_working_when_the_accounts_keys_are_revoked(
    make_app, mailbox, failing_receiver, clock
):
    """Revoking every key the account had when the e-mail was sent kills its links; a key
    made afterwards does not bring them back."""
    app = make_app(
        clock=clock,
        smtp_url=mailbox.url,
        public_url="http://localhost",
        secret_key=LINK_KEY,
        retry_schedule="",
    )
    client, auth = app.test_client(), _key(app, "acme")
    client.patch("/v1/account", json={"notification_email": OPS}, headers=auth)
    hook = subscribe(client, auth, failing_receiver.url)
    link = _link(_fail(client, auth, mailbox), "Pause this hook")
    clock.advance(60)
    store = Hookkit.of(app).store
    account = account_by_name(store, "acme")
    old_keys = [key["id"] for key in list_keys(store, account)]
    new_key = create_key(store, account, clock=clock)
    assert client.get(link).status_code == 200  # the old key still stands
    for key_id in old_keys:
        assert revoke_key(store, str(key_id), clock=clock)
    for method in (client.get, client.post):
        refused = method(link)
        assert refused.status_code == 410, refused.text
        assert "revoked" in refused.text
    headers = {"Authorization": f"Bearer {new_key}"}
    assert client.get(f"/v1/hooks/{hook['id']}", headers=headers).json["status"] == "active"


def test_resume_link_reactivates_a_disabled_hook(client, auth, mailbox, failing_receiver):
    """The resume link in the hook_disabled e-mail makes the hook active again."""
    hook = subscribe(client, auth, failing_receiver.url)
    _fail(client, auth, mailbox)
    link = _link(_fail(client, auth, mailbox, count=2), "Resume this hook")
    page = client.get(link)
    assert "Resume this hook?" in page.text and "It is failed now." in page.text
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["status"] == "failed"

    assert client.post(link).status_code == 200
    shown = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
    assert shown["status"] == "active"


def test_links_are_off_without_a_secret_key(make_app):
    """Without HOOKKIT_SECRET_KEY no token is accepted, not even one signed with an empty key."""
    client = make_app(public_url="http://localhost").test_client()
    token = itsdangerous.URLSafeTimedSerializer("", salt="hookkit-action").dumps(
        {"action": "pause", "account_id": "acc_x", "hook_id": "hook_x"}
    )
    for method in (client.get, client.post):
        assert method(f"/actions/{token}").status_code == 404
