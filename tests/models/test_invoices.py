"""Legal numbers of invoices and credit notes under concurrent writers: each
issuer's sequence of the year has no duplicate and no hole, also when some
writers roll back and others record the same movement twice (spec 25; run on
PostgreSQL by the CI's second pass, where writers really run at once)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select

from domain.invoices import InvoiceKind, TransactionKind, installment_line
from domain.orders import InstallmentState, NewOrder
from domain.payment_schedule import SchedulePolicy
from models import invoices, orders, users
from models.catalog import Organization
from models.invoices import Invoice
from models.orders import Installment
from tests.api.tunnel import ADDRESS
from tests.factories import Factory

YEAR = 2031
PAYMENTS = 10


class RolledBack(Exception):
    """A writer that fails after it took its number."""


async def _orders(sessionmaker, factory: Factory, count: int) -> tuple[Organization, list]:
    """`count` orders of one organization, each with one paid installment;
    their (order id, installment id)."""
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    run = await factory.course_run(course=course)
    product = await factory.product(
        price="100.00", tax_rate=Decimal("0.2"), target_course_runs=[run]
    )
    offering = await factory.offering(course=course, product=product, organizations=[org])
    made = []
    for _ in range(count):
        owner = f"learner-{uuid.uuid4().hex[:8]}"
        new = NewOrder(
            order_id=uuid.uuid4(),
            owner_id=owner,
            offering_id=offering.id,
            billing_address=ADDRESS,
        )
        async with sessionmaker.begin() as session:
            await users.upsert_from_claims(
                session=session, id=owner, email=f"{owner}@x.org", name=""
            )
            order = await orders.create_order(session=session, new=new, policy=SchedulePolicy())
            installment = Installment(
                order_id=order.id,
                position=0,
                due_date=date(YEAR, 1, 5),
                due_at=datetime(YEAR, 1, 5, 9, tzinfo=UTC),
                amount=Decimal("100.00"),
                state=InstallmentState.PAID.value,
            )
            session.add(installment)
            await session.flush()
            made.append((order.id, installment.id))
    return org, made


async def _record(
    sessionmaker,
    order_id: uuid.UUID,
    installment_id: uuid.UUID,
    kind: TransactionKind = TransactionKind.PAYMENT,
    *,
    fail: bool = False,
) -> None:
    async with sessionmaker.begin() as session:
        facts = await orders.invoicing_facts(session=session, order_id=order_id)
        await invoices.record_installment_movement(
            session=session,
            order_id=order_id,
            installment_id=installment_id,
            facts=facts,
            line=installment_line(facts=facts, kind=kind, position=0, amount=Decimal("100.00")),
            kind=kind,
            reference=f"{kind.value}-{installment_id}",
            year=YEAR,
        )
        if fail:
            raise RolledBack


async def _references(sessionmaker, kind: InvoiceKind, orders_made: list) -> list[str]:
    async with sessionmaker() as session:
        found = await session.scalars(
            select(Invoice.reference).where(
                Invoice.kind == kind.value,
                Invoice.parent_id.is_not(None),
                Invoice.order_id.in_([order_id for order_id, _ in orders_made]),
            )
        )
        return sorted(found)


async def _concurrently(*writers) -> None:
    outcomes = await asyncio.gather(*writers, return_exceptions=True)
    unexpected = [item for item in outcomes if item and not isinstance(item, RolledBack)]
    assert unexpected == []


async def test_concurrent_payments_take_every_number_once_without_a_hole(
    sessionmaker, factory: Factory
) -> None:
    org, made = await _orders(sessionmaker, factory, PAYMENTS + 2)
    paying, failing = made[:PAYMENTS], made[PAYMENTS:]
    await _concurrently(
        *(_record(sessionmaker, *pair) for pair in paying),
        # A retried activity racing the first run: one document, one number.
        *(_record(sessionmaker, *pair) for pair in paying[:3]),
        # Writers that roll back give their number back to the next one.
        *(_record(sessionmaker, *pair, fail=True) for pair in failing),
    )
    assert await _references(sessionmaker, InvoiceKind.INVOICE, made) == [
        f"{org.code}-{YEAR}-{number:06d}" for number in range(1, PAYMENTS + 1)
    ]
    await _record(sessionmaker, *failing[0])
    assert (await _references(sessionmaker, InvoiceKind.INVOICE, made))[-1] == (
        f"{org.code}-{YEAR}-{PAYMENTS + 1:06d}"
    )


async def test_credit_notes_have_their_own_sequence(sessionmaker, factory: Factory) -> None:
    org, made = await _orders(sessionmaker, factory, 3)
    for pair in made:
        await _record(sessionmaker, *pair)
    await _concurrently(*(_record(sessionmaker, *pair, TransactionKind.REFUND) for pair in made))
    assert await _references(sessionmaker, InvoiceKind.CREDIT_NOTE, made) == [
        f"{org.code}-AV-{YEAR}-{number:06d}" for number in (1, 2, 3)
    ]
    assert await _references(sessionmaker, InvoiceKind.INVOICE, made) == [
        f"{org.code}-{YEAR}-{number:06d}" for number in (1, 2, 3)
    ]


async def test_another_issuer_counts_from_one(sessionmaker, factory: Factory) -> None:
    first, made_first = await _orders(sessionmaker, factory, 1)
    second, made_second = await _orders(sessionmaker, factory, 1)
    await _concurrently(
        _record(sessionmaker, *made_first[0]), _record(sessionmaker, *made_second[0])
    )
    assert await _references(sessionmaker, InvoiceKind.INVOICE, made_first + made_second) == sorted(
        [f"{first.code}-{YEAR}-000001", f"{second.code}-{YEAR}-000001"]
    )
