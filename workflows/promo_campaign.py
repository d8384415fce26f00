"""PromoCampaignWorkflow (`promo-campaign:<id>`): generate the campaign's codes
(status generating → ready, or failed with the reason), then live until
`valid_until` (durable timers): an operator moves or removes the date, or
disables the campaign, through the `change` update (the timer follows);
`add_codes` draws more through the same generation; the creator hears of the
end EXPIRY_NOTICE before it (campaign_expiring). A campaign without an end
date lives until an operator gives it one."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import search
from workflows.process_owned import WritesItsRow

with workflow.unsafe.imports_passed_through():
    from activities.emails import EMAIL_RETRY
    from activities.promo_codes import CampaignMove, PromoCodeActivities
    from domain.promo_codes import (
        AddCodes,
        CampaignChange,
        CampaignInput,
        CampaignNotReady,
        CampaignStatus,
        CodesImported,
        ImportCodes,
        MoreCodes,
        ReleaseHolds,
        expiry_notice_at,
    )

GENERATION_OPTIONS = {
    # A million codes take about a minute; the heartbeat finds a dead worker sooner.
    "start_to_close_timeout": timedelta(hours=2),
    "heartbeat_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=5,
    ),
}
# Runs started before the workflow wrote its own row replay without it.
PATCH_WRITES_ITS_ROW = "campaign-writes-its-row"
# Runs started before a campaign could change after launch sleep to their
# first valid_until and refuse changes.
PATCH_LIFE_AFTER_LAUNCH = "campaign-life-after-launch"
# Runs started before codes were held at most GUICHET_CART_CODE_HOLD never release them.
PATCH_CODE_HOLD = "campaign-code-hold"
MAIL_OPTIONS = {"start_to_close_timeout": timedelta(seconds=60), "retry_policy": EMAIL_RETRY}
RELEASE_OPTIONS = {
    "start_to_close_timeout": timedelta(minutes=10),
    "heartbeat_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
MOVE_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}


@workflow.defn(name="PromoCampaignWorkflow")
class PromoCampaignWorkflow(WritesItsRow):
    def __init__(self) -> None:
        super().__init__()
        self._valid_until: datetime | None = None
        # Counts each change, so a wait wakes up on any of them.
        self._changes = 0
        # The count the campaign is generated up to, once ready (None before).
        self._codes_count: int | None = None
        # The count asked by add_codes and not drawn yet.
        self._target: int | None = None
        # When a held code is next due for release (None: ask the database).
        self._next_release: datetime | None = None
        self._live = False
        self._campaign_id: uuid.UUID | None = None

    @workflow.run
    async def run(self, params: CampaignInput) -> CampaignStatus:
        search.index_start("promo_campaign", (search.CAMPAIGN, str(params.campaign_id)))
        self._valid_until = params.valid_until
        self._campaign_id = params.campaign_id
        if params.new is not None and workflow.patched(PATCH_WRITES_ITS_ROW):
            # No campaign exists without the workflow that generates and expires it.
            await self._write_row(
                workflow.execute_local_activity_method(
                    PromoCodeActivities.create_campaign, params, **MOVE_OPTIONS
                )
            )
        if not await self._generate(params, on_failure=CampaignStatus.FAILED):
            return CampaignStatus.FAILED
        if workflow.patched(PATCH_LIFE_AFTER_LAUNCH):
            return await self._live_until_the_end(params)
        assert params.valid_until is not None  # runs of before always had one
        await workflow.sleep(max(params.valid_until - workflow.now(), timedelta(0)))
        await self._move(params, CampaignStatus.EXPIRED, [CampaignStatus.READY])
        return CampaignStatus.EXPIRED

    async def _generate(self, params: CampaignInput, *, on_failure: CampaignStatus) -> bool:
        """Codes drawn up to the campaign's count, then ready; False when
        they could not be (the campaign moved to `on_failure` with the reason)."""
        try:
            progress = await workflow.execute_activity_method(
                PromoCodeActivities.generate, params, **GENERATION_OPTIONS
            )
        except ActivityError as error:
            reason = str(error.cause or error)
            await self._move(params, on_failure, [CampaignStatus.GENERATING], reason)
            return False
        self._codes_count = progress.target
        await self._move(params, CampaignStatus.READY, [CampaignStatus.GENERATING])
        return True

    async def _live_until_the_end(self, params: CampaignInput) -> CampaignStatus:
        """Ready until valid_until, which `change` may move; more codes drawn
        when asked; the creator told before the end, once per end date."""
        self._live = True
        noticed_for: datetime | None = None
        while True:
            if self._target is not None:
                # Codes added to a ready campaign that cannot be drawn leave it
                # ready with those it has (the reason kept on it).
                await self._generate(params, on_failure=CampaignStatus.READY)
                self._target = None
                continue
            until, now = self._valid_until, workflow.now()
            if until is not None and now >= until:
                await self._move(params, CampaignStatus.EXPIRED, [CampaignStatus.READY])
                return CampaignStatus.EXPIRED
            release = await self._release_holds(params, now)
            notice = expiry_notice_at(until)
            if notice is not None and noticed_for != until and now >= notice:
                await self._notify_expiring(params)
                noticed_for = until
            wake = notice if notice is not None and noticed_for != until else until
            await self._next_change(_earliest(wake, release))

    async def _release_holds(self, params: CampaignInput, now: datetime) -> datetime | None:
        """Codes held too long in carts not validated go back to unused; when
        to look again. Not before the next one is due: a change wakes the
        run, not the database."""
        hold = params.code_hold
        if hold is None or not workflow.patched(PATCH_CODE_HOLD):
            return None
        if self._next_release is None or now >= self._next_release:
            due = await workflow.execute_activity_method(
                PromoCodeActivities.release_holds,
                ReleaseHolds(campaign_id=params.campaign_id, hold=hold),
                **RELEASE_OPTIONS,
            )
            # Nothing held: a code activated from now on is due a hold from now.
            self._next_release = due or workflow.now() + hold
        return self._next_release

    async def _next_change(self, wake: datetime | None) -> None:
        """Until a change, or `wake` (None: a change only)."""
        seen = self._changes
        timeout = max(wake - workflow.now(), timedelta(0)) if wake is not None else None
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._changes != seen, timeout=timeout)

    async def _notify_expiring(self, params: CampaignInput) -> None:
        # A mail never holds the campaign up: given up after its retries.
        with contextlib.suppress(ActivityError):
            await workflow.execute_activity_method(
                PromoCodeActivities.notify_expiring, params.campaign_id, **MAIL_OPTIONS
            )

    @workflow.update(name="change")
    async def change(self, change: CampaignChange) -> None:
        """An operator's change, written, then followed by the timers."""
        self._check_live()
        await workflow.execute_activity_method(PromoCodeActivities.change, change, **MOVE_OPTIONS)
        if change.moves_validity:
            self._valid_until = change.new_valid_until(self._valid_until)
        self._changes += 1

    @workflow.update(name="add_codes")
    async def add_codes(self, request: AddCodes) -> int:
        """The campaign's new count, once its raise is written (the codes
        are drawn after, by the run)."""
        self._check_live()
        if self._codes_count is None or self._target is not None:
            raise _refusal(CampaignNotReady, "Codes are being drawn: add more once it is ready.")
        target = self._codes_count + request.count
        more = MoreCodes(
            campaign_id=self._campaign_id,
            target=target,
            max_codes=request.max_codes,
        )
        await workflow.execute_activity_method(
            PromoCodeActivities.raise_count, more, **MOVE_OPTIONS
        )
        self._target = target
        self._changes += 1
        return target

    @workflow.update(name="import_codes")
    async def import_codes(self, request: ImportCodes) -> int:
        """Codes printed elsewhere, added at once (all or none); how many."""
        self._check_live()
        if self._codes_count is None or self._target is not None:
            raise _refusal(CampaignNotReady, "Codes are being drawn: import once it is ready.")
        # What add_codes counts from: the campaign's count after.
        self._codes_count = await workflow.execute_activity_method(
            PromoCodeActivities.import_codes,
            CodesImported(campaign_id=self._campaign_id, codes=request.codes),
            **MOVE_OPTIONS,
        )
        return len(request.codes)

    def _check_live(self) -> None:
        if not self._live:
            raise _refusal(CampaignNotReady, "The campaign is not ready (or too old) to change.")

    async def _move(
        self,
        params: CampaignInput,
        target: CampaignStatus,
        expected: list[CampaignStatus],
        reason: str | None = None,
    ) -> None:
        await workflow.execute_activity_method(
            PromoCodeActivities.move,
            CampaignMove(
                campaign_id=params.campaign_id, target=target, expected=expected, reason=reason
            ),
            **MOVE_OPTIONS,
        )


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def _refusal(error: type, message: str) -> ApplicationError:
    """A domain refusal across the update's boundary (the API's status and code)."""
    return ApplicationError(message, {"status": error.status, "details": None}, type=error.code)
