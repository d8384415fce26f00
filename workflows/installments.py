"""Collecting an order's schedule, a component of the order workflow:
remind before each due time, debit at it, once; a soft refusal is charged
again at each step of the dunning ladder (durable timers, counted from the
first refusal), a hard one waits for the learner; a new card pays a refused
installment at once; a charge the provider confirms later waits for its
webhook or the poll timer, and so does one the bank wants the learner to
authenticate (action_required), polled less and less often."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.orders import DebitActivities, DebitRequest
    from domain.emails import EmailKind
    from domain.orders import (
        COLLECTING_STATES,
        CollectionStep,
        DebitOutcome,
        InstallmentInfo,
        InstallmentState,
        OrderProcess,
        retry_at,
    )
    from domain.payments import DunningPolicy
    from workflows.options import MONEY_OPTIONS

# The mail that follows each verdict of a debit.
VERDICT_EMAILS = {
    InstallmentState.REFUSED: EmailKind.INSTALLMENT_REFUSED,
    InstallmentState.PAID: EmailKind.INSTALLMENT_PAID,
    InstallmentState.ACTION_REQUIRED: EmailKind.INSTALLMENT_ACTION_REQUIRED,
}
# A charge waiting for the learner is asked about again after as long as it
# has waited, within these bounds (the provider's webhook is the fast path):
# a learner who never comes back costs a few polls a day, not a history
# that outgrows Temporal's limits.
ACTION_POLL_MAX = timedelta(hours=6)


class CollectingOrder(Protocol):
    """What the collector needs of the order workflow it runs in."""

    process: OrderProcess
    lock: asyncio.Lock

    async def advance(self, event: str) -> None: ...

    async def suspend(self) -> None: ...

    def email(
        self,
        kind: EmailKind,
        installment_id: object | None = None,
        *,
        next_retry_at: datetime | None = None,
    ) -> None: ...


class InstallmentCollector:
    def __init__(
        self,
        order: CollectingOrder,
        *,
        reminder_before: timedelta,
        pending_charge_poll: timedelta,
        dunning: DunningPolicy,
    ) -> None:
        self._order = order
        self._reminder_before = reminder_before
        self._pending_charge_poll = pending_charge_poll
        self._dunning = dunning

    def _ladder(self) -> DunningPolicy | None:
        """The dunning ladder, for runs that record it (older histories
        replay their refusals waiting for a new card)."""
        return self._dunning if workflow.patched("dunning-retries") else None

    async def collect_next(self) -> None:
        """One step: wait, or remind and debit the next installment. Returns
        early when something changed (a new card, a cancel, a refund)."""
        seen = self._order.process.changes
        step, item = self._order.process.collection_step(self._ladder())
        if step is CollectionStep.WAIT:
            await self._sleep_until(None, seen)
            return
        assert item is not None
        if step is CollectionStep.RETRY_LATER:
            moment = retry_at(self._dunning, item)
            assert moment is not None
            if await self._sleep_until(moment, seen, summary=f"retry {self._of(item)}"):
                return  # a new card, a cancel: the next step decides
        if step is CollectionStep.AWAIT_LEARNER and not await self._learner_news(item, seen):
            return  # a new card, a cancel: the next step decides
        if step is CollectionStep.DEBIT_WHEN_DUE:
            reminder = item.due_at - self._reminder_before
            if await self._sleep_until(reminder, seen, summary=f"reminder {self._of(item)}"):
                return
            await self._remind(item)
            if await self._sleep_until(item.due_at, seen, summary=f"debit {self._of(item)}"):
                return
        await self._debit(item)

    def _of(self, item: InstallmentInfo) -> str:
        """ "2/3": the installment's place in its schedule, for timer summaries."""
        ids = [each.id for each in self._order.process.snapshot.schedule]
        return f"{ids.index(item.id) + 1}/{len(ids)}" if item.id in ids else "?"

    async def _sleep_until(
        self,
        moment: datetime | None,
        seen: int,
        *,
        news_of: object | None = None,
        summary: str | None = None,
    ) -> bool:
        """Sleep until `moment` (None: until something changes); True if a
        change (or the provider's news of installment `news_of`) woke us
        first. The grace period ending first suspends the order: a change.
        `summary`: what the timer is for, in the Web UI."""
        suspend_at = self._suspension_at()
        if suspend_at is None or (moment is not None and moment <= suspend_at):
            return await self._wait(moment, seen, news_of, summary)
        if await self._wait(suspend_at, seen, news_of, "grace period ends: suspend"):
            return True
        await self._order.suspend()
        return True

    async def _wait(
        self, moment: datetime | None, seen: int, news_of: object | None, summary: str | None
    ) -> bool:

        def woken() -> bool:
            process = self._order.process
            return process.changes != seen or news_of in process.payment_news

        if moment is None:
            await workflow.wait_condition(woken)
            return True
        delay = moment - workflow.now()
        if delay <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(woken, timeout=delay, timeout_summary=summary)
        except TimeoutError:
            return False
        return True

    def _suspension_at(self) -> datetime | None:
        """When the grace period of an unpaid installment ends (runs started
        before it existed: never)."""
        moment = self._order.process.suspension_at(self._dunning.grace_period)
        if moment is None or not workflow.patched("dunning-grace-period"):
            return None
        return moment

    async def _remind(self, item: InstallmentInfo) -> None:
        if item.id in self._order.process.reminded or item.due_at <= workflow.now():
            return
        self._order.process = self._order.process.reminded_of(item.id)
        self._order.email(EmailKind.INSTALLMENT_REMINDER, item.id)

    async def _debit(self, item: InstallmentInfo) -> None:
        async with self._order.lock:
            if self._order.process.state not in COLLECTING_STATES:
                return  # canceled or refunded while we waited for the lock
            outcome = await self.charge(item)
            seen = self._order.process.changes
        if outcome.state is InstallmentState.PENDING:
            await self._await_verdict(item, seen)
            return
        self.tell(item, outcome)

    async def charge(self, item: InstallmentInfo) -> DebitOutcome:
        """Debit `item` now and take in the verdict; the caller holds the
        order's lock (the collector at a due time, or a learner paying now)."""
        self._order.process = self._order.process.debiting(item.id)
        answer = await workflow.execute_activity_method(
            DebitActivities.debit,
            DebitRequest(order_id=self._order.process.order_id, installment_id=item.id),
            summary=f"debit {self._of(item)}",
            **MONEY_OPTIONS,
        )
        outcome = answer if isinstance(answer, DebitOutcome) else DebitOutcome(state=answer)
        if outcome.state is not InstallmentState.PENDING:
            self._order.process = self._order.process.debited(item.id, outcome)
            await self._order.advance(f"installment_{outcome.state.value}")
        return outcome

    def tell(self, item: InstallmentInfo, outcome: DebitOutcome) -> None:
        """The mail that follows a verdict (none while the provider thinks,
        nor while a charge still waits for the learner it has told)."""
        if outcome.state not in VERDICT_EMAILS or outcome.state is item.state is (
            InstallmentState.ACTION_REQUIRED
        ):
            return
        kind = VERDICT_EMAILS[outcome.state]
        if outcome.state is InstallmentState.PAID and self._order.process.paid_in_full():
            kind = EmailKind.INSTALLMENTS_FULLY_PAID
        self._order.email(kind, item.id, next_retry_at=self._next_retry(item.id))

    def _next_retry(self, installment_id: object) -> datetime | None:
        """When a refused installment is charged again by itself, if it is."""
        refused = self._order.process.snapshot.next_installment()
        if refused is None or refused.id != installment_id:
            return None
        if refused.state is not InstallmentState.REFUSED or self._ladder() is None:
            return None
        return retry_at(self._dunning, refused)

    async def _learner_news(self, item: InstallmentInfo, seen: int) -> bool:
        """Wait for news of a charge the learner is to authenticate (the
        provider's webhook) or the next poll; False if something else
        changed first (a new card, a cancel, the grace period's end)."""
        waited = workflow.now() - (item.first_refused_at or workflow.now())
        poll = min(max(waited, self._pending_charge_poll), ACTION_POLL_MAX)
        asked = workflow.now() + poll
        summary = f"ask the bank again {self._of(item)}"
        if not await self._sleep_until(asked, seen, news_of=item.id, summary=summary):
            return True  # time to ask again
        return item.id in self._order.process.payment_news

    async def _await_verdict(self, item: InstallmentInfo, seen: int) -> None:
        """The provider confirms this charge later: its webhook, a change or
        the poll timer (in case the webhook is lost) sends us to ask again."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    item.id in self._order.process.payment_news
                    or self._order.process.changes != seen
                ),
                timeout=self._pending_charge_poll,
            )
