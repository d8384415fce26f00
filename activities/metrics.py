"""Business metrics, on the worker's Prometheus endpoint (the Temporal SDK's
metric meter, GUICHET_WORKER_METRICS_ADDRESS): order transitions, charge
outcomes, money charged and refunded.

Counted once the transaction that recorded them has committed: a rolled
back activity counts nothing, and a metric never holds up or undoes the
money (money first). Amounts are in cents: the SDK's counters are whole
numbers."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from domain.orders import InstallmentState, OrderState
from domain.payments import is_hard_decline

TRANSITIONS = "guichet_order_transitions_total"
CHARGES = "guichet_installment_charges_total"
CHARGED = "guichet_charged_amount_total"
REFUNDED = "guichet_refunded_amount_total"
DESCRIPTIONS = {
    TRANSITIONS: ("Orders moved from a state to another", "1"),
    CHARGES: ("Installment charges by outcome", "1"),
    CHARGED: ("Money charged by card, in cents", "cent"),
    REFUNDED: ("Money refunded, in cents", "cent"),
}


def _add(name: str, value: int, labels: dict[str, str]) -> None:
    description, unit = DESCRIPTIONS[name]
    counter = activity.metric_meter().create_counter(name, description, unit)
    counter.add(value, labels)


def _after_commit(session: AsyncSession, count: Callable[[], None]) -> None:
    def counted(_session: object) -> None:
        try:
            count()
        except Exception:  # a metric never fails what it counts
            activity.logger.exception("a business metric could not be counted")

    event.listen(session.sync_session, "after_commit", counted, once=True)


def order_moved(session: AsyncSession, *, from_state: OrderState, to_state: OrderState) -> None:
    labels = {"from_state": from_state.value, "to_state": to_state.value}
    _after_commit(session, lambda: _add(TRANSITIONS, 1, labels))


def charge_outcome(state: InstallmentState, decline_code: str | None) -> str | None:
    """The outcome label of a charge's verdict; None for "the provider
    thinks" (processing), which is no outcome yet."""
    if state is InstallmentState.REFUSED:
        return "refused_hard" if is_hard_decline(decline_code) else "refused_soft"
    return {
        InstallmentState.PAID: "paid",
        InstallmentState.ACTION_REQUIRED: "action_required",
        InstallmentState.ERROR: "provider_error",
    }.get(state)


def charged(
    session: AsyncSession,
    *,
    state: InstallmentState,
    decline_code: str | None,
    amount: Decimal,
    currency: str,
) -> None:
    outcome = charge_outcome(state, decline_code)

    def count() -> None:
        if outcome is not None:
            _add(CHARGES, 1, {"outcome": outcome})
        if state is InstallmentState.PAID:
            _add(CHARGED, _cents(amount), {"currency": currency})

    _after_commit(session, count)


def refunded(session: AsyncSession, *, amount: Decimal, currency: str) -> None:
    _after_commit(session, lambda: _add(REFUNDED, _cents(amount), {"currency": currency}))


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())
