"""Failure notifications: e-mail an account when its webhooks keep failing (seed 000).

`recording.record` turns an exhausted delivery (`delivery_failed`) and a hook disabled after N
exhausted messages in a row (`hook_disabled`) into `Notice`s; the worker hands each batch to
`Notifier.send` on a background thread. The e-mail names the hook (its description, else its
id), its target URL, the event type, the HTTP status and the error, in seed 000's words:
"Webhook failed with status 500 - Internal Server Error." (with an en dash).

Volume control, so that one broken receiver cannot flood an inbox:

- Grouping: all notices of one account in one batch become one e-mail. A batch is what the
  worker recorded in one transaction, so a burst of failures arrives as one batch or a few.
- Per-hook cooldown (`NotifyPolicy.cooldown`, 10 minutes): after an e-mail about a hook's
  failed delivery, further `delivery_failed` notices of that hook are only counted until the
  cooldown ends, and the next e-mail about the hook says how many were left out. At most one
  such e-mail per hook per cooldown, however many events fail. `hook_disabled` is never held
  back: it happens once per failing streak and asks the user to act. The cooldown lives in
  process memory, so each worker process applies it on its own and a restart forgets it;
  both err on the side of telling the user.

Without HOOKKIT_SMTP_URL, or for an account without a notification address, notices are
logged instead. `send` never raises: an unreachable SMTP server is logged together with what
would have been sent. A malformed HOOKKIT_SMTP_URL stops start-up (`Notifier.__init__`).

One-click links: with HOOKKIT_PUBLIC_URL and HOOKKIT_SECRET_KEY set, every notice carries
signed links that expire after seven days (`action_token`) to `/actions/<token>` (see
`api.actions`): retry this delivery, pause or resume this hook.

This module never logs the SMTP password, the secret key or a link token.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from http import HTTPStatus
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select

from .. import metrics
from ..clock import Clock
from ..config import Settings
from ..store.database import Store
from ..store.tables import accounts
from .jobs import Notice
from .links import LINK_MAX_AGE, Action, action_token
from .smtp import SmtpServer, connect, parse_smtp_url

__all__ = ["Notifier", "NotifyPolicy", "SmtpServer", "hook_label", "parse_smtp_url"]

log = logging.getLogger("hookkit.notify")


@dataclass(frozen=True)
class NotifyPolicy:
    """How often and how patiently to e-mail."""

    cooldown: float = 600.0  # seconds between `delivery_failed` e-mails about one hook
    timeout: float = 10.0  # seconds to connect to the SMTP server, and per reply after that


def hook_label(description: str | None, hook_id: str) -> str:
    """How a hook is named to people: its description, else its id."""
    label = " ".join((description or "").split())
    return label or hook_id


# -- sending ----------------------------------------------------------------------------------


@dataclass
class _HookState:
    sent_at: float | None = None
    skipped: int = 0  # notices held back by the cooldown, told in the next e-mail


@dataclass
class _Item:
    notice: Notice
    skipped: int = 0


@dataclass(frozen=True)
class _Recipient:
    account_id: str
    name: str
    email: str | None


class Notifier:
    """Turns batches of notices into at most one e-mail per account, or log lines."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Clock,
        policy: NotifyPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.policy = policy or NotifyPolicy()
        self.clock = clock
        self.server = parse_smtp_url(settings.smtp_url)  # a bad URL stops start-up here
        if self.server is not None and self.server.password_in_clear:
            log.warning(
                "HOOKKIT_SMTP_URL has insecure=true: the SMTP password for %s@%s:%d is sent "
                "unencrypted; use ?starttls=true or smtps:// where the server offers TLS",
                self.server.username,
                self.server.host,
                self.server.port,
            )
        self._ssl_context = ssl_context
        self._lock = threading.Lock()
        self._hooks: dict[str, _HookState] = {}

    def send(self, notices: Sequence[Notice]) -> None:
        """E-mail each account about its notices, within the cooldown; never raises."""
        items = self._admit(notices)
        if not items:
            return
        if self.server is None:
            for item in items:
                _log_instead("HOOKKIT_SMTP_URL is not set", item.notice)
            return
        by_account: dict[str, list[_Item]] = defaultdict(list)
        for item in items:
            by_account[item.notice.account_id].append(item)
        try:
            recipients = self._recipients(list(by_account))
        except Exception:
            log.exception("looking up notification addresses failed")
            for item in items:
                _log_instead("the notification address could not be read", item.notice)
            return
        outgoing: list[tuple[EmailMessage, list[_Item]]] = []
        for account_id, group in by_account.items():
            recipient = recipients.get(account_id)
            if recipient is None or not recipient.email:
                name = recipient.name if recipient else account_id
                for item in group:
                    _log_instead(f"account {name!r} has no notification address", item.notice)
                continue
            try:
                outgoing.append((self._message(recipient, group), group))
            except ValueError as exc:  # e.g. a line break in the stored address
                for item in group:
                    _log_instead(f"account {recipient.name!r}: cannot e-mail ({exc})", item.notice)
        if outgoing:
            self._deliver(outgoing)

    # -- volume control ------------------------------------------------------------------------

    def _admit(self, notices: Sequence[Notice]) -> list[_Item]:
        """The notices worth an e-mail now; the rest are counted per hook (see module doc)."""
        disabled = {n.delivery_id for n in notices if n.kind == "hook_disabled"}
        # The delivery that disabled its hook is told in the hook_disabled section.
        wanted = [n for n in notices if n.kind == "hook_disabled" or n.delivery_id not in disabled]
        now = self.clock()
        cooldown = self.policy.cooldown
        admitted: list[_Item] = []
        first_in_batch: dict[str, _Item] = {}
        with self._lock:
            if len(self._hooks) > 10_000:
                self._hooks = {
                    hook: state
                    for hook, state in self._hooks.items()
                    if state.sent_at is not None and now - state.sent_at < cooldown
                }
            for notice in wanted:
                hook = notice.subscription_id
                state = self._hooks.setdefault(hook, _HookState())
                cooling = (
                    notice.kind != "hook_disabled"
                    and state.sent_at is not None
                    and now - state.sent_at < cooldown
                )
                if not cooling:
                    item = _Item(notice, state.skipped)
                    state.sent_at, state.skipped = now, 0
                    admitted.append(item)
                    first_in_batch.setdefault(hook, item)
                elif hook in first_in_batch:
                    first_in_batch[hook].skipped += 1
                else:
                    state.skipped += 1
                    log.info("not e-mailing yet (cooldown): %s", _summary(notice))
        return admitted

    # -- building ------------------------------------------------------------------------------

    def _recipients(self, account_ids: list[str]) -> dict[str, _Recipient]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(accounts.c.id, accounts.c.name, accounts.c.notification_email).where(
                    accounts.c.id.in_(account_ids)
                )
            ).all()
        return {row.id: _Recipient(row.id, row.name, row.notification_email) for row in rows}

    def _message(self, recipient: _Recipient, items: list[_Item]) -> EmailMessage:
        sender = self.settings.smtp_from
        message = EmailMessage()
        message["From"] = sender
        message["To"] = recipient.email
        message["Subject"] = _subject(items)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        message.set_content(self._body(recipient, items))
        return message

    def _body(self, recipient: _Recipient, items: list[_Item]) -> str:
        minutes = round(self.policy.cooldown / 60)
        sections = []
        for item in items:
            lines = [*_describe(item.notice), ""]
            if item.skipped:
                more = _plural(item.skipped, "more failed delivery", "more failed deliveries")
                lines += [
                    f"  Plus {more} of this hook, not listed separately",
                    f"  (at most one e-mail per failing hook every {minutes} minutes).",
                    "",
                ]
            links = self._links(item.notice)
            width = max((len(label) for label, _ in links), default=0)
            lines += [f"  {label + ':':<{width + 1}} {url}" for label, url in links]
            sections.append("\n".join(lines).rstrip())
        footer = [
            "-- ",
            f"You receive this because {recipient.email} is the notification address of",
            f"the hookkit account {recipient.name!r}; change it with PATCH /v1/account.",
        ]
        if self._links_enabled():
            footer.append(
                f"The links are valid for {LINK_MAX_AGE // 86400} days and ask before they act."
            )
        return "\n\n".join([*sections, "\n".join(footer)]) + "\n"

    def _links_enabled(self) -> bool:
        return bool(self.settings.public_url and self.settings.secret_key)

    def _links(self, notice: Notice) -> list[tuple[str, str]]:
        if not self._links_enabled():
            return []
        base = self.settings.public_url.rstrip("/") + "/actions/"

        def link(name: str, target_id: str) -> str:
            token = action_token(
                self.settings.secret_key, Action(name, notice.account_id, target_id), self.clock
            )
            return base + token

        hook, delivery = notice.subscription_id, notice.delivery_id
        if notice.kind == "hook_disabled":
            # Only active hooks send, so a retry link here could only fail: resume first.
            return [("Resume this hook", link("resume", hook))]
        return [
            ("Retry this delivery", link("retry", delivery)),
            ("Pause this hook", link("pause", hook)),
        ]

    # -- SMTP ----------------------------------------------------------------------------------

    def _deliver(self, outgoing: list[tuple[EmailMessage, list[_Item]]]) -> None:
        """One connection for the whole batch; a failure is logged with what was not sent."""
        assert self.server is not None
        server = self.server
        sent = 0
        try:
            with connect(server, self.policy.timeout, self._tls) as smtp:
                for message, items in outgoing:
                    try:
                        smtp.send_message(message)
                    except smtplib.SMTPRecipientsRefused as exc:
                        metrics.emails("failed")
                        reason = f"the SMTP server refused {message['To']} ({exc.recipients})"
                        for item in items:
                            _log_instead(reason, item.notice)
                    else:
                        metrics.emails("sent")
                    sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            metrics.emails("failed", len(outgoing) - sent)
            reason = f"e-mailing through {server.host}:{server.port} failed: {exc!r}"
            for _message, items in outgoing[sent:]:
                for item in items:
                    _log_instead(reason, item.notice)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context


# -- wording ----------------------------------------------------------------------------------


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _status_line(notice: Notice) -> str:
    """Seed 000's sentence tail: `status 500 - Internal Server Error`, or the error alone."""
    code, error = notice.response_code, (notice.error or "").strip().rstrip(".")
    if code is None:
        return error or "unknown error"
    reason = error.removeprefix(f"HTTP {code}").strip()
    if not reason:
        try:
            reason = HTTPStatus(code).phrase
        except ValueError:
            reason = "no reason given"
    return f"status {code} \u2013 {reason}"  # an en dash, as in seed 000


def _headline(notice: Notice) -> str:
    name = hook_label(notice.description, notice.subscription_id)
    status = _status_line(notice)
    if notice.kind == "hook_disabled":
        streak = notice.extra.get("streak")
        times = f"{streak} deliveries in a row" if streak else "repeated deliveries"
        return (
            f"Webhook {name!r} was disabled after {times} failed; it receives nothing until "
            f"it is resumed. The last one failed with {status}."
        )
    if notice.response_code is None:
        return f"Webhook failed: {status}."
    return f"Webhook failed with {status}."


def _describe(notice: Notice) -> list[str]:
    hook = notice.subscription_id
    fields = [
        ("Hook", f"{notice.description.strip()} ({hook})" if notice.description else hook),
        ("Target URL", notice.target_url),
        ("Event type", notice.event_type),
        ("Delivery", notice.delivery_id),
        ("Status code", str(notice.response_code) if notice.response_code is not None else "none"),
        ("Error", notice.error or "none"),
    ]
    return [_headline(notice), ""] + [f"  {label + ':':<13}{value}" for label, value in fields]


def _summary(notice: Notice) -> str:
    """One log line about a notice (no links: they carry tokens)."""
    return (
        f"{notice.kind}: hook {hook_label(notice.description, notice.subscription_id)!r} "
        f"({notice.subscription_id}, {masked_url(notice.target_url)}) event {notice.event_type} "
        f"delivery {notice.delivery_id}: {_status_line(notice)}"
    )


def _subject(items: list[_Item]) -> str:
    notices = [item.notice for item in items]
    if len(items) == 1 and not items[0].skipped:
        (notice,) = notices
        name = hook_label(notice.description, notice.subscription_id)
        if len(name) > 60:
            name = name[:59] + "…"
        if notice.kind == "hook_disabled":
            return f"[hookkit] Webhook disabled: {name}"
        code = notice.response_code
        detail = f"status {code}" if code is not None else "no response"
        return f"[hookkit] Webhook failed: {name} ({notice.event_type}, {detail})"
    disabled = sum(n.kind == "hook_disabled" for n in notices)
    failed = sum(1 + item.skipped for item in items if item.notice.kind != "hook_disabled")
    parts = []
    if disabled:
        parts.append(_plural(disabled, "webhook disabled", "webhooks disabled"))
    if failed:
        parts.append(_plural(failed, "failed delivery", "failed deliveries"))
    return "[hookkit] " + ", ".join(parts)


def masked_url(url: str) -> str:
    """`url` for a log line: every query value shown as `***` (`?token=***&id=***`).

    Target URLs often carry a token in their query (Zapier, Make, n8n hooks); the account's
    own e-mail shows the URL in full, a log line read by operators does not.
    """
    parts = urlsplit(url)
    if not parts.query:
        return url
    masked = "&".join(_masked_pair(pair) for pair in parts.query.split("&"))
    return urlunsplit(parts._replace(query=masked))


def _masked_pair(pair: str) -> str:
    name, equals, _value = pair.partition("=")
    return f"{name}=***" if equals else "***" if pair else pair


def _log_instead(reason: str, notice: Notice) -> None:
    log.warning("%s; not e-mailing: %s", reason, _summary(notice))
