"""The order workflow's state, on its own: what it asks for next."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.orders import (
    CardOnFile,
    CollectionStep,
    DebitOutcome,
    InstallmentInfo,
    InstallmentState,
    OrderFacts,
    OrderProcess,
    OrderSnapshot,
    OrderState,
    retry_at,
)
from domain.payments import DunningPolicy, is_hard_decline

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
    paid = process.debited(last, DebitOutcome(state=P))
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


# --- the dunning ladder --------------------------------------------------------------

LADDER = DunningPolicy()  # the defaults: 1, 3 and 7 days after the first refusal


def _refused(code: str | None, refusals: int = 1) -> tuple[OrderProcess, uuid.UUID]:
    process = _process(OrderState.FAILED_PAYMENT, P, W, W)
    item = process.snapshot.schedule[1].id
    outcome = DebitOutcome(state=R, refusals=refusals, first_refused_at=NOW, decline_code=code)
    return process.debited(item, outcome), item


@pytest.mark.parametrize(
    ("refusals", "after"), [(1, timedelta(days=1)), (2, timedelta(days=3)), (3, timedelta(days=7))]
)
def test_a_soft_refusal_is_retried_at_each_step_of_the_ladder(
    refusals: int, after: timedelta
) -> None:
    process, item = _refused("insufficient_funds", refusals)
    step, found = process.collection_step(LADDER)
    assert (step, found.id if found else None) == (CollectionStep.RETRY_LATER, item)
    assert retry_at(LADDER, found) == NOW + after


@pytest.mark.parametrize("code", ["lost_card", "stolen_card", "expired_card", "fraudulent"])
def test_a_hard_refusal_waits_for_the_learner(code: str) -> None:
    process, _ = _refused(code)
    assert process.collection_step(LADDER) == (CollectionStep.WAIT, None)


def test_an_unknown_or_missing_code_is_soft() -> None:
    for code in ("something_new", None):
        process, _ = _refused(code)
        assert process.collection_step(LADDER)[0] is CollectionStep.RETRY_LATER
        assert not is_hard_decline(code)


def test_once_every_retry_is_spent_the_order_waits_for_the_learner() -> None:
    process, _ = _refused("insufficient_funds", refusals=4)
    assert process.collection_step(LADDER) == (CollectionStep.WAIT, None)


def test_runs_without_the_ladder_wait_for_a_new_card_as_before() -> None:
    process, _ = _refused("insufficient_funds")
    assert process.collection_step() == (CollectionStep.WAIT, None)


def test_a_new_card_pays_now_whatever_the_ladder_says() -> None:
    process, item = _refused("insufficient_funds")
    step, found = process.card_saved().collection_step(LADDER)
    assert (step, found.id if found else None) == (CollectionStep.DEBIT_NOW, item)


def test_a_charge_waiting_for_the_learner_is_no_refusal() -> None:
    """action_required: the order stays where it was (pending_payment), the
    collector waits for the learner, and a new card pays at once instead."""
    process = _process(OrderState.PENDING_PAYMENT, P, W, W)
    second = process.snapshot.schedule[1]
    waiting = process.debited(
        second.id,
        DebitOutcome(
            state=InstallmentState.ACTION_REQUIRED,
            first_refused_at=NOW,
            decline_code="authentication_required",
        ),
    )
    assert waiting.next_transition(event="installment_action_required", at=NOW) is None
    step, item = waiting.collection_step(DunningPolicy())
    assert step is CollectionStep.AWAIT_LEARNER and item is not None
    assert item.first_refused_at == NOW
    assert waiting.card_saved().collection_step()[0] is CollectionStep.DEBIT_NOW


def test_an_enrolled_order_unpaid_past_the_grace_period_is_suspended_once() -> None:
    grace = timedelta(days=14)
    process = _process(OrderState.PENDING_PAYMENT, P, W, W).model_copy(update={"enrolled": True})
    assert process.suspension_at(grace) is None  # nothing refused
    second = process.snapshot.schedule[1]
    refused = process.debited(
        second.id,
        DebitOutcome(state=R, refusals=1, first_refused_at=NOW, decline_code="lost_card"),
    ).moved_to(OrderState.FAILED_PAYMENT)
    assert refused.suspension_at(grace) == NOW + grace
    suspended = refused.suspending()
    assert suspended.suspension_at(grace) is None and not suspended.enrolled
    assert not suspended.wants_resumption()  # still failed_payment
    assert suspended.moved_to(OrderState.PENDING_PAYMENT).wants_resumption()
    # An order that never had access (its first installment refused) has
    # nothing to suspend.
    pending = _process(OrderState.PENDING, W, W)
    never = pending.debited(
        pending.snapshot.schedule[0].id,
        DebitOutcome(state=R, refusals=1, first_refused_at=NOW, decline_code="lost_card"),
    )
    assert never.suspension_at(grace) is None


def test_a_card_is_good_until_the_end_of_its_month() -> None:
    assert CardOnFile.of(reference="pm", exp_month=12, exp_year=2026).expires_on == date(
        2026, 12, 31
    )
    assert CardOnFile.of(reference="pm", exp_month=2, exp_year=2028).expires_on == date(2028, 2, 29)


def test_the_learner_is_told_before_the_first_installment_the_card_expires_before() -> None:
    notice = timedelta(days=30)
    process = _process(OrderState.PENDING_PAYMENT, P, W, W)  # due now, +30, +60 days
    assert process.card_expiry_notice(notice) is None  # no card known
    expiring = CardOnFile(reference="pm_1", expires_on=(NOW + timedelta(days=40)).date())
    with_card = process.card_saved(card=expiring)
    moment, item = with_card.card_expiry_notice(notice)
    assert item == process.snapshot.schedule[2] and moment == item.due_at - notice
    told = with_card.expiry_told_of()
    assert told.card_expiry_notice(notice) is None
    renewed = CardOnFile(reference="pm_2", expires_on=date(2034, 12, 31))
    assert told.card_saved(card=renewed).card_expiry_notice(notice) is None
