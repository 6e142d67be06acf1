"""E-mail as a channel: the one object the rest of the monitor knows it by (delivery/channel.py's
protocol), registered in delivery/__init__.py.

Always on: with an `[email]` section letters go to its mail server; without one they are written
as .eml files into the outbox folder, addressed to no one (the target ""). Everyone on
`email.recipients` gets every change; a route's desk (`[[routes]]`) and an article's
(`recipients` of `[[articles]]`) get the changes of what they name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from monitor.core.articles import Article
from monitor.core.checkup import Checked
from monitor.core.models import RenderedMessage
from monitor.core.routing import Route, Router
from monitor.delivery.channel import Accepted, ChannelKind, Letter, SentTest
from monitor.delivery.email.message import (
    OUTBOX_SENDER,
    Sender,
    build_message,
    letter_message,
    render_letter,
)
from monitor.delivery.email.settings import PASSWORD_ENV, EmailSettings, read_email_settings
from monitor.delivery.email.transport import OutboxTransport, SmtpTransport, Transport
from monitor.editorial.render import make_environment, render_message
from monitor.settings.config import Config, DigestConfig
from monitor.settings.tomltable import Table

log = logging.getLogger(__name__)

NAME = "email"
OUTBOX = ""  # the one target of letters written to the outbox without an [email] section


class EmailKind:
    name = NAME
    check_name = "delivery"
    environment = (PASSWORD_ENV, PASSWORD_ENV + "_FILE")

    def read_settings(
        self, root: Table, environ: Mapping[str, str], config: Config
    ) -> EmailSettings:
        return read_email_settings(root, environ, config.database.url)

    def on(self, config: Config) -> bool:
        return config.section(EmailSettings) is not None

    def open(self, config: Config, installation: str) -> EmailChannel:
        settings = config.need(EmailSettings)
        routes = (*config.routes, *_desks(config.articles))
        email = settings.email
        if email is None:
            return EmailChannel(
                OutboxTransport(settings.outbox_dir),
                Sender(OUTBOX_SENDER, installation),
                Router((OUTBOX,), routes),
                (),
                config.digest,
            )
        return EmailChannel(
            SmtpTransport(email),
            Sender(email.sender, installation),
            Router(email.recipients, routes),
            email.ops_recipients,
            config.digest,
        )

    async def check(self, config: Config, environ: Mapping[str, str]) -> Checked:
        import asyncio

        from monitor.delivery.email.check import check_mail_server, check_outbox

        settings = config.need(EmailSettings)
        if settings.email is not None:
            return await check_mail_server(settings.email)
        return await asyncio.to_thread(check_outbox, settings.outbox_dir)

    async def send_test(self, config: Config, now: datetime) -> SentTest | None:
        email = config.need(EmailSettings).email
        if email is None:
            return None
        rendered = render_message(
            make_environment(),
            "test",
            {
                "prefix": config.digest.subject_prefix,
                "sender": email.sender,
                "recipients": ", ".join(email.recipients),
                "server": f"{email.host}:{email.port}",
                "security": email.security,
                "when": now.strftime("%Y-%m-%d %H:%M UTC"),
            },
        )
        message_id = Sender(email.sender, "send-test").message_id("test", now.timestamp())
        message = build_message(rendered, email.sender, email.recipients, message_id, now)
        # One attempt: the operator wants the server's own answer now, not after the back-off.
        sent = await SmtpTransport(replace(email, max_attempts=1)).deliver(message)
        refused = {r.target for r in sent.refused}
        taken = [r for r in email.recipients if r not in refused]
        return SentTest(
            (f"send-test: accepted for {', '.join(taken)}; server answered {sent.where}",),
            tuple(f"send-test: the mail server refused {r}" for r in sent.refused),
        )


def _desks(articles: tuple[Article, ...]) -> tuple[Route, ...]:
    """Each article's desk gets the changes of the trials and papers it cites, as a route's
    desk does."""
    return tuple(
        Route(
            f"the desk of {article.name}",
            article.recipients,
            frozenset(article.trials),
            pmids=frozenset([*article.pmids, *(p for ps in article.papers.values() for p in ps)]),
        )
        for article in articles
        if article.recipients
    )


class EmailChannel:
    name = NAME

    def __init__(
        self,
        transport: Transport,
        sender: Sender,
        router: Router,
        operators: tuple[str, ...],
        digest: DigestConfig,
    ) -> None:
        self._transport = transport
        self.transport = transport.name
        self.sender = sender
        self.router = router
        self.operators = operators
        self.digest = digest

    def desk(self, article: Article) -> tuple[str, ...]:
        """Who gets an article's check: everyone, then its desk."""
        everyone = [r for r in self.router.everyone if r != OUTBOX]
        return tuple(dict.fromkeys([*everyone, *article.recipients]))

    def render(self, letter: Letter) -> RenderedMessage:
        return render_letter(letter, self.digest, make_environment())

    async def send(self, letter: Letter, targets: tuple[str, ...]) -> Accepted:
        recipients = tuple(t for t in targets if t != OUTBOX)
        rendered = self.render(letter)
        message = letter_message(letter, rendered, self.sender, recipients, self.digest)
        delivered = await self._transport.deliver(message)
        return Accepted(
            delivered.where,
            rendered.subject,
            str(message["Message-ID"]),
            delivered.refused,
            kept=self.transport == OutboxTransport.name,
        )


KIND: ChannelKind = EmailKind()
