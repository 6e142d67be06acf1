"""Every e-mail the monitor sends, assembled in one place: a letter (digest, article check,
notice) worded by the templates (subject, text, HTML), with its headers and a Message-ID that
makes the same letter to the same people the same message, and no other monitor's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, assert_never

from monitor.core.models import RenderedMessage
from monitor.delivery.channel import CheckLetter, DigestLetter, Letter, NoticeLetter
from monitor.editorial.checkview import render_article_check
from monitor.editorial.render import render_digest, render_message
from monitor.settings.config import DigestConfig

if TYPE_CHECKING:
    from jinja2 import Environment

OUTBOX_SENDER = "trial-monitor <trial-monitor@localhost>"


@dataclass(frozen=True)
class Sender:
    """Who messages are from, and what makes their Message-IDs this monitor's own: the
    installation's id (made once, kept in the database) and the sender's own domain."""

    address: str
    installation: str

    @property
    def domain(self) -> str:
        _, address = parseaddr(self.address)
        return address.rpartition("@")[2].strip().lower() or "localhost"

    def message_id(self, kind: str, *key: object) -> str:
        """The same message (kind and key) from this monitor always has the same Message-ID, so
        one sent again after a crash can be dropped as a copy; another monitor's never does."""
        seed = "|".join([self.installation, kind, *map(str, key)])
        return f"<{kind}.{hashlib.sha256(seed.encode()).hexdigest()[:40]}@{self.domain}>"

    def digest_id(self, change_ids: Sequence[int], recipients: Sequence[str]) -> str:
        """The same changes to the same people: the same Message-ID."""
        changes = ",".join(str(i) for i in sorted(change_ids))
        return self.message_id("digest", changes, ",".join(sorted(recipients)))


def build_message(
    rendered: RenderedMessage,
    sender: str,
    recipients: Sequence[str],
    message_id: str,
    now: datetime,
    list_id: str | None = None,
    change_ids: Sequence[int] = (),
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients) if recipients else "undisclosed-recipients:;"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    if list_id:
        message["List-Id"] = list_id
    if change_ids:
        # Which stored changes this digest carries: for support, and for the crash tests.
        message["X-Trial-Monitor-Changes"] = ",".join(str(i) for i in sorted(change_ids))
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def list_header(digest: DigestConfig) -> str:
    """The List-Id header: the subject prefix as its label, quoted, since a bare label with a
    comma or a colon makes the header invalid (RFC 2919's phrase): `"LDN monitor" <ldn.org>`."""
    label = re.sub(r'[\[\]"<>\\]', "", digest.subject_prefix).strip()
    return f'"{label}" <{digest.list_id}>' if label else f"<{digest.list_id}>"


def render_letter(letter: Letter, digest: DigestConfig, env: Environment) -> RenderedMessage:
    """A letter's words, from its templates."""
    match letter:
        case DigestLetter():
            return render_digest(
                letter.digest,
                digest.subject_prefix,
                env,
                letter.evidence,
                where=letter.where,
                unread=letter.unread,
                verdicts=letter.verdicts,
                reminders=letter.reminders,
            )
        case CheckLetter():
            return render_article_check(
                letter.standing,
                digest.subject_prefix,
                env,
                letter.generated_at,
                letter.data_timestamp,
            )
        case NoticeLetter():
            return render_message(env, letter.template, letter.context)
        case _:
            assert_never(letter)


def letter_message(
    letter: Letter,
    rendered: RenderedMessage,
    sender: Sender,
    recipients: Sequence[str],
    digest: DigestConfig,
) -> EmailMessage:
    """The e-mail of a letter to these recipients (none: the outbox, addressed to no one)."""
    list_id: str | None
    match letter:
        case DigestLetter():
            changes = letter.digest.change_ids
            message_id = sender.digest_id(changes, recipients)
            when, list_id = letter.digest.generated_at, list_header(digest)
        case CheckLetter():
            key = letter.standing.article.key
            message_id = sender.message_id("article-check", key, *recipients)
            when, list_id, changes = letter.generated_at, list_header(digest), ()
        case NoticeLetter():
            message_id = sender.message_id(letter.kind, letter.cycle_id)
            when, changes = letter.at, ()
            list_id = list_header(digest) if letter.readers else None
        case _:
            assert_never(letter)
    return build_message(rendered, sender.address, recipients, message_id, when, list_id, changes)
