"""Email rendering and delivery: every template, the file and SMTP backends."""

from __future__ import annotations

import email
import email.policy
import email.utils
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from markupsafe import escape

from domain.emails import EmailKind, format_date, format_money, sample_context
from integrations.mail import FileMailer, SmtpMailer, render
from tests.conftest import SmtpInbox


@pytest.mark.parametrize("kind", list(EmailKind))
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_template_renders(kind: EmailKind, lang: str) -> None:
    mail = render(kind=kind, language=lang, context=sample_context(), to="ada@example.org")
    assert mail.subject and "\n" not in mail.subject
    assert "Ada Lovelace" in mail.text
    assert str(escape(mail.subject)) in mail.html
    assert "{{" not in mail.text + mail.html


def test_installment_mails_say_amount_date_and_card() -> None:
    for lang, amount, day in (
        ("fr", "157,50\u00a0€", "06/04/2027"),
        ("en", "€157.50", "6 April 2027"),
    ):
        for kind in (
            EmailKind.INSTALLMENT_REMINDER,
            EmailKind.INSTALLMENT_PAID,
            EmailKind.INSTALLMENT_REFUSED,
        ):
            mail = render(kind=kind, language=lang, context=sample_context(), to="x@y.z")
            for expected in (amount, day, "4242"):
                assert expected in mail.text, (lang, kind, expected)


def test_unknown_language_falls_back_to_french() -> None:
    mail = render(kind=EmailKind.ORDER_CONFIRMED, language="de", context=sample_context(), to="x")
    assert mail.text.startswith("Bonjour")


def test_html_escapes_what_users_wrote() -> None:
    context = sample_context().model_copy(update={"product_title": "<script>alert(1)</script>"})
    mail = render(kind=EmailKind.ORDER_CONFIRMED, language="en", context=context, to="x")
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert "<script>" in mail.text  # plain text is not HTML


def test_money_and_dates_by_language() -> None:
    assert format_money(Decimal("1234.5"), "EUR", "fr") == "1\u202f234,50\u00a0€"
    assert format_money(Decimal("1234.5"), "EUR", "en") == "€1,234.50"
    assert format_date(sample_context().installment.due_date, "en") == "6 April 2027"


async def test_file_backend_writes_eml(tmp_path: Path) -> None:
    mail = render(
        kind=EmailKind.ORDER_CONFIRMED,
        language="fr",
        context=sample_context(),
        to="ada@example.org",
    )
    await FileMailer(folder=tmp_path / "mail", sender="Guichet <no-reply@x.org>").send(mail)
    (path,) = (tmp_path / "mail").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == mail.subject
    sent = email.utils.parsedate_to_datetime(message["Date"])
    assert sent.tzinfo is not None and abs(datetime.now(UTC) - sent) < timedelta(minutes=5)
    assert message.get_body(("plain",)).get_content().startswith("Bonjour")
    assert "<h1" in message.get_body(("html",)).get_content()


async def test_smtp_backend_delivers(smtp: tuple[SmtpInbox, int]) -> None:
    inbox, port = smtp
    mail = render(
        kind=EmailKind.INSTALLMENT_PAID,
        language="en",
        context=sample_context(),
        to="ada@example.org",
    )
    await SmtpMailer(host="127.0.0.1", port=port, sender="no-reply@x.org").send(mail)
    (message,) = inbox.messages
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == mail.subject
    sent = email.utils.parsedate_to_datetime(message["Date"])
    assert sent.tzinfo is not None and abs(datetime.now(UTC) - sent) < timedelta(minutes=5)
    assert "€157.50" in message.get_body(("plain",)).get_content()
