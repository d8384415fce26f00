"""The order state function and its transitions (spec 20, "States")."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator

import pytest

from domain.emails import preferred_language
from domain.orders import (
    ALLOWED_TRANSITIONS,
    INACTIVE_STATES,
    REFUNDABLE_STATES,
    InvalidTransition,
    OrderCompleted,
    OrderFacts,
    OrderNotCancelable,
    OrderState,
    check_cancel,
    check_transition,
    next_state,
)
from domain.orders import InstallmentState as I
from domain.orders import OrderState as S

PAID_READY = {
    "organization_assigned": True,
    "has_owner": True,
    "is_free": False,
    "payment_method_saved": True,
}


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"organization_assigned": False, "has_owner": True, "is_free": False}, S.DRAFT),
        ({"organization_assigned": True, "has_owner": False, "is_free": True}, S.TO_OWN),
        (
            {
                "organization_assigned": True,
                "has_owner": True,
                "is_free": True,
                "prepaid": True,
                "contract_required": True,
            },
            S.COMPLETED,
        ),
        ({"organization_assigned": True, "has_owner": True, "is_free": True}, S.COMPLETED),
        (
            {
                "organization_assigned": True,
                "has_owner": True,
                "is_free": True,
                "contract_required": True,
            },
            S.TO_SIGN,
        ),
        (
            {
                "organization_assigned": True,
                "has_owner": True,
                "is_free": True,
                "contract_required": True,
                "contract_submitted": True,
            },
            S.SIGNING,
        ),
        (
            {
                "organization_assigned": True,
                "has_owner": True,
                "is_free": True,
                "contract_required": True,
                "contract_submitted": True,
                "learner_signed": True,
            },
            S.COMPLETED,
        ),
        (
            {
                "organization_assigned": True,
                "has_owner": True,
                "is_free": False,
                "contract_required": True,
            },
            S.TO_SIGN_AND_TO_SAVE_PAYMENT_METHOD,
        ),
        ({**PAID_READY, "contract_required": True}, S.TO_SIGN),
        (
            {
                "organization_assigned": True,
                "has_owner": True,
                "is_free": False,
                "contract_required": True,
                "contract_submitted": True,
            },
            S.SIGNING,
        ),
        ({**PAID_READY, "contract_required": True, "contract_submitted": True}, S.SIGNING),
        (
            {
                "organization_assigned": True,
                "has_owner": True,
                "is_free": False,
                "contract_required": True,
                "contract_submitted": True,
                "learner_signed": True,
            },
            S.TO_SAVE_PAYMENT_METHOD,
        ),
        (
            {"organization_assigned": True, "has_owner": True, "is_free": False},
            S.TO_SAVE_PAYMENT_METHOD,
        ),
        ({**PAID_READY, "installments": (I.PENDING, I.PENDING)}, S.PENDING),
        ({**PAID_READY, "installments": (I.ERROR, I.PENDING)}, S.PENDING),
        ({**PAID_READY, "installments": (I.PAID, I.PENDING)}, S.PENDING_PAYMENT),
        ({**PAID_READY, "installments": (I.PAID, I.ERROR)}, S.PENDING_PAYMENT),
        ({**PAID_READY, "installments": (I.REFUSED, I.PENDING)}, S.NO_PAYMENT),
        ({**PAID_READY, "installments": (I.PAID, I.REFUSED, I.PENDING)}, S.FAILED_PAYMENT),
        ({**PAID_READY, "installments": (I.PAID, I.PAID)}, S.COMPLETED),
        ({**PAID_READY, "installments": (I.PAID,)}, S.COMPLETED),
    ],
)
def test_next_state(facts: dict, expected: OrderState) -> None:
    assert next_state(OrderFacts(**facts)) is expected


# --- every reachable order, through every event --------------------------------------


def _events(facts: OrderFacts) -> Iterator[tuple[str, OrderFacts]]:
    """What can happen next to an order with these facts."""
    change = facts.model_copy
    if not facts.organization_assigned:
        yield "assign", change(update={"organization_assigned": True})
        return
    if not facts.has_owner:
        yield "claim", change(update={"has_owner": True, "prepaid": True})
        return
    if facts.prepaid:
        return
    contract_pending = facts.contract_required and not facts.learner_signed
    if contract_pending and not facts.contract_submitted:
        yield "submit", change(update={"contract_submitted": True})
    if contract_pending and facts.contract_submitted:
        yield "sign", change(update={"learner_signed": True})
        yield "refused_or_expired", change(update={"contract_submitted": False})
    if not facts.is_free and not facts.payment_method_saved:
        yield "save_payment_method", change(update={"payment_method_saved": True})
    yield from _installment_events(facts)


def _installment_events(facts: OrderFacts) -> Iterator[tuple[str, OrderFacts]]:
    installments = facts.installments
    for index, state in enumerate(installments):
        if state is I.PAID:
            continue
        # Installments are debited in order: this is the first one not paid.
        for result in (I.PAID, I.REFUSED, I.ERROR):
            if result is not state:
                updated = (*installments[:index], result, *installments[index + 1 :])
                yield (
                    f"installment_{index}_{result}",
                    facts.model_copy(update={"installments": updated}),
                )
        return


def _with_schedule(facts: OrderFacts, count: int) -> OrderFacts:
    # The schedule is stored when the order reaches pending.
    if count and not facts.installments and next_state(facts) is S.PENDING:
        return facts.model_copy(update={"installments": (I.PENDING,) * count})
    return facts


def _starts() -> Iterator[tuple[OrderFacts, int]]:
    for is_free, contract, count in itertools.product((True, False), (True, False), (1, 2, 3, 4)):
        if is_free and count > 1:
            continue
        base = OrderFacts(
            organization_assigned=False,
            has_owner=True,
            is_free=is_free,
            contract_required=contract,
        )
        yield base, 0 if is_free else count
    # Standalone / bulk sales: an ownerless order waits for its voucher.
    yield OrderFacts(organization_assigned=False, has_owner=False, is_free=True), 0


def _reachable() -> Iterator[tuple[OrderFacts, str, OrderFacts]]:
    for start, count in _starts():
        seen = {start}
        queue = deque([start])
        while queue:
            facts = queue.popleft()
            for event, after in _events(facts):
                after = _with_schedule(after, count)
                yield facts, event, after
                if after not in seen:
                    seen.add(after)
                    queue.append(after)


REACHABLE = list(_reachable())


def test_every_event_moves_along_an_allowed_transition() -> None:
    for before, event, after in REACHABLE:
        source, target = next_state(before), next_state(after)
        if event == "assign":
            # Assignment is written as its own step: draft → assigned → next.
            check_transition(source, S.ASSIGNED)
            source = S.ASSIGNED
        if source is not target:
            assert target in ALLOWED_TRANSITIONS[source], (event, before, source, target)


def test_every_allowed_flow_transition_happens() -> None:
    """The table allows nothing the tunnel cannot do (commands aside)."""
    produced = set()
    for before, event, after in REACHABLE:
        source, target = next_state(before), next_state(after)
        if event == "assign":
            produced.add((S.DRAFT, S.ASSIGNED))
            source = S.ASSIGNED
        if source is not target:
            produced.add((source, target))
    commands = {S.CANCELED, S.REFUNDING, S.REFUNDED}
    allowed = {
        (source, target)
        for source, targets in ALLOWED_TRANSITIONS.items()
        for target in targets
        if target not in commands
    }
    assert allowed == produced


def test_every_state_is_reachable() -> None:
    reached = {next_state(facts) for pair in REACHABLE for facts in (pair[0], pair[2])}
    commands = {S.ASSIGNED, S.CANCELED, S.REFUNDING, S.REFUNDED}
    assert reached | commands == set(OrderState)
    assert not reached & commands


def test_an_error_installment_changes_no_state() -> None:
    for before, event, after in REACHABLE:
        if event.endswith("_error") and I.REFUSED not in before.installments:
            assert next_state(before) is next_state(after), event


def test_cancel_from_every_state() -> None:
    for state in OrderState:
        if state is S.COMPLETED:
            with pytest.raises(OrderCompleted) as caught:
                check_cancel(state)
            assert caught.value.status == 409
        elif state in INACTIVE_STATES:
            with pytest.raises(OrderNotCancelable):
                check_cancel(state)
        else:
            check_cancel(state)
            check_transition(state, S.CANCELED)


def test_refund_only_after_money_was_taken() -> None:
    assert {S.PENDING_PAYMENT, S.FAILED_PAYMENT, S.COMPLETED, S.CANCELED} == REFUNDABLE_STATES
    for state in set(OrderState) - REFUNDABLE_STATES:
        with pytest.raises(InvalidTransition):
            check_transition(state, S.REFUNDING)
    check_transition(S.REFUNDING, S.REFUNDED)
    assert ALLOWED_TRANSITIONS[S.REFUNDED] == frozenset()


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en-GB,en;q=0.9,fr;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE,de;q=0.9,en;q=0.5", "en"),
        ("en;q=0.2,fr;q=0.7", "fr"),
        ("es", "fr"),
        ("", "fr"),
        (None, "fr"),
        ("en;q=abc,fr", "fr"),
        ("en;q=0", "fr"),
    ],
)
def test_the_mail_language_an_accept_language_header_prefers(
    header: str | None, language: str
) -> None:
    assert preferred_language(header) == language
