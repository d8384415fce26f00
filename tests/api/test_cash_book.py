"""The cash book holds every money movement (spec 25): card charges and their
refunds beside promo-code lines, each once, and it reconciles with the
payment transactions and the credit notes of the same period."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from domain.invoices import TransactionKind
from models.invoices import Transaction
from tests.api.test_installments import _paid_order, _until
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.api.test_promo_codes import (
    activate,
    cart_of,
    codes_of,
    create_campaign,
    membership,  # noqa: F401 - fixture
    until_status,
)
from tests.factories import Factory


async def _paid_by_code(client_for, membership) -> None:  # noqa: F811
    manager = await client_for(sub="manager-cash", roles=["promo_manager"])
    campaign = await until_status(
        manager, await create_campaign(manager, membership, count=2), "ready"
    )
    code = (await codes_of(manager, campaign))[0]["code"]
    member = await client_for(sub="member-cash")
    cart = await cart_of(member)
    assert (await activate(member, cart["id"], code)).status_code == 200
    paid = await member.post(f"/api/v2/checkouts/select-payment/{cart['id']}", json={})
    assert paid.status_code == 200, paid.text


async def _amounts(learner: httpx.AsyncClient, order_id: str, state: str) -> Decimal:
    order = (await learner.get(f"/api/v1/orders/{order_id}")).json()
    return sum(
        (Decimal(item["amount"]) for item in order["payment_schedule"] if item["state"] == state),
        Decimal("0.00"),
    )


async def _sum(sessionmaker, kind: TransactionKind) -> Decimal:
    async with sessionmaker() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(Transaction.amount), 0)).where(
                Transaction.kind == kind.value
            )
        )
    return Decimal(str(total)).quantize(Decimal("0.01"))


async def test_the_cash_book_reconciles_with_payments_and_credit_notes(
    learner: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    client_for,
    factory: Factory,
    membership,  # noqa: F811
    sessionmaker,
) -> None:
    kept = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, kept["id"], "pending_payment")
    # Canceled: what was paid stays paid, nothing more is charged while we read.
    assert (await learner.post(f"/api/v1/orders/{kept['id']}/cancel")).is_success
    refunded = await _paid_order(learner, factory, "pm_card_mastercard")
    await _until(learner, refunded["id"], "pending_payment")
    assert (await admin.post(f"/api/v1/admin/orders/{refunded['id']}/refund")).is_success
    await _until(learner, refunded["id"], "refunded")
    await _paid_by_code(client_for, membership)

    today = datetime.now(UTC).date().isoformat()
    book = (
        await admin.get("/api/v1/admin/accounting/cash-book", params={"from": today, "to": today})
    ).json()
    card = [entry for entry in book["entries"] if entry["method"] == "card"]
    charges = sum(Decimal(entry["amount"]) for entry in card if Decimal(entry["amount"]) > 0)
    refunds = sum(Decimal(entry["amount"]) for entry in card if Decimal(entry["amount"]) < 0)
    # What the two orders show they paid (the first installments, 135 € each,
    # unless a busy machine let a second one through first), the refunded
    # one's given back: the same as the transactions, entry for entry.
    kept_paid = await _amounts(learner, kept["id"], "paid")
    given_back = await _amounts(learner, refunded["id"], "refunded")
    assert charges == kept_paid + given_back == await _sum(sessionmaker, TransactionKind.PAYMENT)
    assert refunds == -given_back == await _sum(sessionmaker, TransactionKind.REFUND)
    assert kept_paid >= Decimal("135.00") and given_back >= Decimal("135.00")
    assert all(entry["amount"] == entry["net_amount"] for entry in card)
    assert {entry["order_id"] for entry in card} == {kept["id"], refunded["id"]}
    (by_code,) = [entry for entry in book["entries"] if entry["method"] == "promo_code"]
    assert (by_code["amount"], by_code["net_amount"]) == ("9.00", "0.00")
    totals = {total["key"]: total for total in book["by_method"]}
    assert Decimal(totals["card"]["net_amount"]) == charges + refunds
    # Each movement once, whatever ran twice: one entry per source.
    assert len({entry["source"] for entry in book["entries"]}) == len(book["entries"])
