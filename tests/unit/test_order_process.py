"""The order workflow's state, on its own: what it asks for next."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.orders import (
    CollectionStep,
    InstallmentInfo,
    InstallmentState,
    OrderFacts,
    OrderProcess,
    OrderSnapshot,
    OrderState,
)

P = InstallmentState.PAID
R = InstallmentState.REFUSED
W = InstallmentState.PENDING
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _process(state: OrderState, *installments: InstallmentState, **facts: bool) -> OrderProcess:
    schedule = tuple(
        InstallmentInfo(id=uuid.uuid4(), due_at=NOW + timedelta(days=30 * n), state=item)
        for n, item in enumerate(installments)
    )
    known = OrderFacts(
        organization_assigned=True,
        has_owner=True,
        is_free=False,
        payment_method_saved=True,
        installments=tuple(item.state for item in schedule),
    ).model_copy(update=facts)
    snapshot = OrderSnapshot(order_id=uuid.uuid4(), state=state, facts=known, schedule=schedule)
    return OrderProcess(snapshot=snapshot)


def test_the_next_installment_is_debited_when_due() -> None:
    process = _process(OrderState.PENDING_PAYMENT, P, W, W)
    step, item = process.collection_step()
    assert step is CollectionStep.DEBIT_WHEN_DUE
    assert item == process.snapshot.schedule[1]


def test_a_refused_installment_waits_for_a_new_card_then_is_debited_at_once() -> None:
    process = _process(OrderState.FAILED_PAYMENT, P, R, W)
    assert process.collection_step() == (CollectionStep.WAIT, None)
    with_card = process.card_saved()
    step, item = with_card.collection_step()
    assert step is CollectionStep.DEBIT_NOW
    assert item == process.snapshot.schedule[1]
    # The retry is spent once the debit starts.
    assert with_card.debiting(item.id).collection_step() == (CollectionStep.WAIT, None)


def test_a_card_saved_with_nothing_refused_retries_nothing() -> None:
    process = _process(OrderState.PENDING, W, W).card_saved()
    assert process.retry is None
    assert process.collection_step()[0] is CollectionStep.DEBIT_WHEN_DUE


def test_nothing_left_to_collect_once_all_is_paid() -> None:
    process = _process(OrderState.PENDING_PAYMENT, P, P, W)
    last = process.snapshot.schedule[2].id
    paid = process.debited(last, P)
    assert paid.paid_in_full()
    assert paid.collection_step() == (CollectionStep.WAIT, None)
    assert paid.changes == process.changes + 1
    transition = paid.next_transition(event="installment_paid", at=NOW)
    assert transition is not None and transition.to_state is OrderState.COMPLETED
    assert paid.moved_to(OrderState.COMPLETED).next_transition(event="x", at=NOW) is None


def test_news_about_a_charge_is_kept_until_its_next_debit() -> None:
    process = _process(OrderState.PENDING, W, W)
    first = process.snapshot.schedule[0].id
    told = process.told(first)
    assert first in told.payment_news
    assert first not in told.debiting(first).payment_news


def test_the_process_ends_when_handed_over_for_a_refund() -> None:
    process = _process(OrderState.PENDING_PAYMENT, P, W)
    assert not process.is_over
    assert process.moved_to(OrderState.REFUNDING).is_over
    assert process.moved_to(OrderState.COMPLETED).is_over


def test_confirmation_and_enrollment_are_asked_for_once() -> None:
    pending = _process(OrderState.PENDING, W, W)
    assert pending.wants_confirmation() and not pending.wants_enrollment()
    paid = _process(OrderState.PENDING_PAYMENT, P, W)
    assert paid.wants_enrollment()
    assert not paid.model_copy(update={"enrolled": True}).wants_enrollment()
    assert not pending.model_copy(update={"confirmed": True}).wants_confirmation()
    # A prepaid seat nobody owns yet has nobody to tell or enroll.
    seat = _process(OrderState.COMPLETED, has_owner=False)
    assert not seat.wants_confirmation() and not seat.wants_enrollment()
