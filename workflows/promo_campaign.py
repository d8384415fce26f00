"""PromoCampaignWorkflow (`promo-campaign:<id>`): generate the campaign's codes
(status generating → ready, or failed with the reason), then expire it at
`valid_until` with a durable timer."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows import search
from workflows.process_owned import WritesItsRow

with workflow.unsafe.imports_passed_through():
    from activities.promo_codes import CampaignMove, PromoCodeActivities
    from domain.promo_codes import CampaignInput, CampaignStatus

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
MOVE_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}


@workflow.defn(name="PromoCampaignWorkflow")
class PromoCampaignWorkflow(WritesItsRow):
    @workflow.run
    async def run(self, params: CampaignInput) -> CampaignStatus:
        search.index_start("promo_campaign", (search.CAMPAIGN, str(params.campaign_id)))
        if params.new is not None and workflow.patched(PATCH_WRITES_ITS_ROW):
            # No campaign exists without the workflow that generates and expires it.
            await self._write_row(
                workflow.execute_local_activity_method(
                    PromoCodeActivities.create_campaign, params, **MOVE_OPTIONS
                )
            )
        try:
            await workflow.execute_activity_method(
                PromoCodeActivities.generate, params, **GENERATION_OPTIONS
            )
        except ActivityError as error:
            reason = str(error.cause or error)
            await self._move(params, CampaignStatus.FAILED, [CampaignStatus.GENERATING], reason)
            return CampaignStatus.FAILED
        await self._move(params, CampaignStatus.READY, [CampaignStatus.GENERATING])
        await workflow.sleep(max(params.valid_until - workflow.now(), timedelta(0)))
        await self._move(params, CampaignStatus.EXPIRED, [CampaignStatus.READY])
        return CampaignStatus.EXPIRED

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
