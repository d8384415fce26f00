"""Sending the order emails, each once: the sent_emails row is inserted in
the transaction that sends, so a retried activity finds it and stops.

A mail never holds up an order: a refusal for good (the server refused the
address, the address cannot be a header) is recorded on the order as an
`email_failed` event and not retried; a mail server that is down is retried
EMAIL_ATTEMPTS times (the workflows' retry policy), then recorded alike."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from activities.failures import raises_domain_errors
from domain.emails import (
    EmailContext,
    EmailKind,
    EmailNotSent,
    FrontendLinks,
    InstallmentFacts,
    MailRecipient,
)
from domain.orders import InstallmentState
from integrations.mail import Mailer, MailRefused, MailUnavailable, render
from models import emails, orders
from models.orders import Installment, Order
from models.users import User

EMAIL_ATTEMPTS = 12
# About an hour and a half of a mail server down before a mail is given up.
EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=30),
    maximum_attempts=EMAIL_ATTEMPTS,
)


class EmailRequest(BaseModel):
    order_id: uuid.UUID
    kind: EmailKind
    installment_id: uuid.UUID | None = None
    # Instead of the owner (a prepaid seat has none yet).
    recipient: MailRecipient | None = None
    # A refused installment the dunning ladder charges again then.
    next_retry_at: datetime | None = None
    # Sent once per this key (a card) rather than once per installment.
    once_per: str | None = None


REFUNDED = InstallmentState.REFUNDED.value
# Mails the organization's signatories get a copy of (the contract is theirs too).
COPIED_TO_SIGNATORIES = frozenset({EmailKind.ORDER_WITHDRAWN})


def _signatories(order: Order) -> list[MailRecipient]:
    people = order.organization.signatories if order.organization else []
    return [
        MailRecipient(email=person["email"], name=person.get("name", ""))
        for person in people
        if person.get("email")
    ]


def _installment(order: Order, installment_id: uuid.UUID | None) -> InstallmentFacts | None:
    chosen: Installment | None = next(
        (item for item in order.installments if item.id == installment_id), None
    )
    if chosen is None:
        return None
    return InstallmentFacts(
        position=chosen.position + 1,
        count=len(order.installments),
        amount=chosen.amount,
        due_date=chosen.due_date,
    )


def context_of(
    order: Order, to: MailRecipient, installment_id: uuid.UUID | None, links: FrontendLinks
) -> EmailContext:
    return EmailContext(
        learner_name=to.name or to.email,
        order_id=order.id,
        product_title=order.offering.product.title,
        course_title=order.offering.course.title,
        organization_title=order.organization.title if order.organization else "",
        total=order.total,
        currency=order.currency,
        card_last4=order.payment_method.last4 if order.payment_method else None,
        card_expiry=f"{order.payment_method.exp_month:02d}/{order.payment_method.exp_year}"
        if order.payment_method
        else None,
        installment=_installment(order, installment_id),
        voucher_code=order.voucher.code if order.voucher else None,
        refunded=sum(
            (item.amount for item in order.installments if item.state == REFUNDED),
            Decimal("0.00"),
        ),
        order_url=links.order_url(order.id),
        pay_url=links.pay_url(order.id, installment_id) if installment_id else None,
    )


class EmailActivities:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        mailer: Mailer,
        links: FrontendLinks | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._mailer = mailer
        self._links = links or FrontendLinks()

    @activity.defn(name="emails.send")
    @raises_domain_errors
    async def send(self, request: EmailRequest) -> bool:
        """Send the mail unless it was sent; True if this call sent it.
        EmailNotSent (recorded on the order) when it cannot be sent."""
        try:
            return await self._send(request)
        except MailRefused as refusal:
            await self._record_failure(request, reason=str(refusal), permanent=True)
            raise EmailNotSent(f"The mail server refused this mail: {refusal}") from None
        except MailUnavailable as outage:
            if not _last_attempt():
                raise  # retried with backoff (EMAIL_RETRY)
            await self._record_failure(request, reason=str(outage), permanent=False)
            raise EmailNotSent(f"The mail could not be sent: {outage}") from None

    async def _send(self, request: EmailRequest) -> bool:
        """To the owner (or the request's recipient), and the copies the kind
        asks for; each recipient once, in a transaction of its own."""
        async with self._sessionmaker() as session:
            order = await orders.get_order(session=session, id=request.order_id, view=True)
            to = request.recipient or await _owner(session, order)
        if to is None:
            return False  # nobody to write to (an unclaimed prepaid seat)
        copies = _signatories(order) if request.kind in COPIED_TO_SIGNATORIES else []
        sent = await self._send_to(request, to, once_per=request.once_per)
        for copy in copies:
            await self._send_to(request, copy, once_per=f"cc:{copy.email.lower()}")
        return sent

    async def _send_to(
        self, request: EmailRequest, to: MailRecipient, *, once_per: str | None
    ) -> bool:
        async with self._sessionmaker.begin() as session:
            order = await orders.get_order(session=session, id=request.order_id, view=True)
            fresh = await emails.reserve(
                session=session,
                order_id=order.id,
                installment_id=request.installment_id,
                kind=request.kind.value,
                recipient=to.email,
                once_per=once_per,
            )
            if not fresh:
                return False
            mail = render(
                kind=request.kind,
                language=order.language,
                context=context_of(order, to, request.installment_id, self._links).model_copy(
                    update={"next_retry_at": request.next_retry_at}
                ),
                to=to.email,
            )
            # Sent inside the transaction: if sending fails, the guard row is
            # rolled back and the retried activity sends again.
            await self._mailer.send(mail)
            return True

    async def _record_failure(self, request: EmailRequest, *, reason: str, permanent: bool) -> None:
        """On the order's events, without the address (reasons hold SMTP codes)."""
        async with self._sessionmaker.begin() as session:
            await orders.add_event(
                session=session,
                order_id=request.order_id,
                type="email_failed",
                detail={
                    "kind": request.kind.value,
                    "installment_id": str(request.installment_id)
                    if request.installment_id
                    else None,
                    "reason": reason,
                    "permanent": permanent,
                },
            )


async def mail_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    send: Callable[[AsyncSession], Awaitable[bool]],
    *,
    kind: str,
) -> bool:
    """`send(session)`: a mail not about an order (a subscription's, a
    campaign's), sent in the transaction that notes it sent. A refusal for
    good is logged and not retried; a server down is retried by the caller's
    policy. Whether this call sent it."""
    try:
        async with sessionmaker.begin() as session:
            return await send(session)
    except MailRefused as refusal:
        activity.logger.warning("%s mail refused: %s", kind, refusal)
        return False
    except MailUnavailable as outage:
        raise ApplicationError(str(outage), type="mail_unavailable") from None


def _last_attempt() -> bool:
    return activity.in_activity() and activity.info().attempt >= EMAIL_ATTEMPTS


async def _owner(session: AsyncSession, order: Order) -> MailRecipient | None:
    user = await session.get(User, order.owner_id) if order.owner_id else None
    if user is None or not user.email:
        return None
    return MailRecipient(email=user.email, name=user.name or "")
