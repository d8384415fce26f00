"""Temporal worker: registers every workflow and activity of Guichet.

REGISTRY is the one list to extend when a domain gains workflows or
activities; tests build their workers from it too, so what runs in
production is what is tested.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import defined_activities
from activities.academies import AcademyActivities
from activities.emails import EmailActivities
from activities.enrollments import EnrollmentActivities
from activities.health import HealthActivities
from activities.orders import DebitActivities, OrderActivities
from activities.promo_codes import PromoCodeActivities
from activities.signatures import SignatureActivities
from activities.subscriptions import SubscriptionActivities
from domain.academies import SCHEDULE_ID, SYNC_WORKFLOW_PREFIX
from domain.subscriptions import BACKFILL_SCHEDULE_ID, BACKFILL_WORKFLOW_PREFIX
from integrations import temporal
from integrations.academies import catalog_source, price_source
from integrations.mail import mailer
from integrations.payments import payment_provider
from integrations.payments.base import PaymentProvider
from integrations.payments.dummy import DummyCharge
from integrations.signature import signature_provider
from integrations.signature.dummy import DummyProcedure
from models.payments import SqlChargeStore
from models.session import create_engine, create_sessionmaker
from models.signatures import SqlProcedureStore
from settings import PaymentBackend, Settings
from workflows import search
from workflows.academy import CatalogSyncWorkflow, CheckoutIntentWorkflow
from workflows.health import WorkerHealthWorkflow
from workflows.order import OrderWorkflow
from workflows.promo_campaign import PromoCampaignWorkflow
from workflows.refund import ProviderRefundWorkflow, RefundWorkflow
from workflows.signature import SignatureWorkflow
from workflows.subscription import StripeEventsBackfillWorkflow, SubscriptionNoticeWorkflow

logger = logging.getLogger("guichet.worker")


@dataclass(frozen=True)
class WorkerDeps:
    """What activities are built with: one engine and the outside-world clients."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class DomainRegistration:
    name: str
    workflows: Sequence[type] = ()
    activities: Callable[[WorkerDeps], Sequence[Callable[..., Any]]] = lambda _deps: ()


def _payments(deps: WorkerDeps) -> PaymentProvider:
    return payment_provider(
        deps.settings, store=SqlChargeStore(deps.sessionmaker, record=DummyCharge)
    )


REGISTRY: list[DomainRegistration] = [
    DomainRegistration(
        "health",
        workflows=(WorkerHealthWorkflow,),
        activities=lambda deps: defined_activities(HealthActivities(deps.sessionmaker)),
    ),
    DomainRegistration(
        "emails",
        activities=lambda deps: defined_activities(
            EmailActivities(
                sessionmaker=deps.sessionmaker,
                mailer=mailer(deps.settings),
                links=deps.settings.frontend_links(),
            )
        ),
    ),
    DomainRegistration(
        "enrollments",
        activities=lambda deps: defined_activities(
            EnrollmentActivities(sessionmaker=deps.sessionmaker, settings=deps.settings)
        ),
    ),
    DomainRegistration(
        "signatures",
        workflows=(SignatureWorkflow,),
        activities=lambda deps: defined_activities(
            SignatureActivities(
                sessionmaker=deps.sessionmaker,
                provider=signature_provider(
                    deps.settings, store=SqlProcedureStore(deps.sessionmaker, record=DummyProcedure)
                ),
            )
        ),
    ),
    DomainRegistration(
        "orders",
        workflows=(OrderWorkflow, RefundWorkflow, ProviderRefundWorkflow),
        activities=lambda deps: [
            *defined_activities(
                OrderActivities(sessionmaker=deps.sessionmaker, payments=_payments(deps))
            ),
            *defined_activities(
                DebitActivities(sessionmaker=deps.sessionmaker, payments=_payments(deps))
            ),
        ],
    ),
    DomainRegistration(
        "academies",
        workflows=(CatalogSyncWorkflow, CheckoutIntentWorkflow),
        activities=lambda deps: defined_activities(
            AcademyActivities(
                sessionmaker=deps.sessionmaker,
                settings=deps.settings,
                catalog=catalog_source(deps.settings),
                prices=price_source(deps.settings),
                payments=_payments(deps),
            )
        ),
    ),
    DomainRegistration(
        "subscriptions",
        workflows=(SubscriptionNoticeWorkflow, StripeEventsBackfillWorkflow),
        activities=lambda deps: defined_activities(
            SubscriptionActivities(
                sessionmaker=deps.sessionmaker,
                payments=_payments(deps),
                mailer=mailer(deps.settings),
                subscriptions_url=deps.settings.frontend_page("frontend_subscriptions_page"),
            )
        ),
    ),
    DomainRegistration(
        "promo_codes",
        workflows=(PromoCampaignWorkflow,),
        activities=lambda deps: defined_activities(
            PromoCodeActivities(sessionmaker=deps.sessionmaker, mailer=mailer(deps.settings))
        ),
    ),
]


def registered_workflows() -> list[type]:
    return [item for domain in REGISTRY for item in domain.workflows]


def registered_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    return [item for domain in REGISTRY for item in domain.activities(deps)]


class _ActivityLog(ActivityInboundInterceptor):
    """One structured line per activity execution; arguments are never logged
    (they may hold payment or personal data)."""

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await super().execute_activity(input)
        except BaseException as error:
            outcome = type(error).__name__
            raise
        finally:
            logger.info(
                "activity %s %s",
                info.activity_type,
                outcome,
                extra={
                    "fields": {
                        "activity": info.activity_type,
                        "workflow_id": info.workflow_id,
                        "workflow_type": info.workflow_type,
                        "attempt": info.attempt,
                        "outcome": outcome,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                },
            )


class ActivityLogInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityLog(next)


# The sandbox re-executes every module it does not pass through for each new
# workflow run: our workflow modules cost 15-30 ms of CPU per run (profile of
# bench.orders; /tmp-free measure in BENCHMARKS.md). They hold constants only,
# no state shared between runs, so they are passed through like domain/ and
# the activity definitions already are. The strict sandbox still guards their
# determinism where it matters most: tests/workflows/test_replay.py replays
# every saved history under the default restrictions.
SHARED_WORKFLOW_MODULES = ("workflows",)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SHARED_WORKFLOW_MODULES)
    )


def build_worker(client: Client, deps: WorkerDeps, *, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=registered_workflows(),
        activities=registered_activities(deps),
        interceptors=[ActivityLogInterceptor()],
        graceful_shutdown_timeout=deps.settings.worker_shutdown_grace,
        workflow_runner=workflow_runner(),
        max_concurrent_activities=deps.settings.worker_max_concurrent_activities,
        max_concurrent_local_activities=deps.settings.worker_max_concurrent_local_activities,
    )


def _runtime(settings: Settings) -> Runtime | None:
    if not settings.worker_metrics_address:
        return None
    metrics = PrometheusConfig(bind_address=settings.worker_metrics_address)
    return Runtime(telemetry=TelemetryConfig(metrics=metrics))


async def ensure_catalog_schedule(client: Client, settings: Settings) -> None:
    """The `catalog-sync` schedule, created or brought up to date, and run
    now: a fresh stack serves academies within seconds. Several workers
    starting at once are fine: overlapping runs are skipped."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            CatalogSyncWorkflow.run,
            id=f"{SYNC_WORKFLOW_PREFIX}scheduled",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.catalog_sync_interval)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(SCHEDULE_ID, schedule, trigger_immediately=True)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(SCHEDULE_ID)
        await handle.update(lambda _current: ScheduleUpdate(schedule=schedule))
        await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP)


async def ensure_backfill_schedule(client: Client, settings: Settings) -> None:
    """With Stripe, the `stripe-events-backfill` schedule, created or brought
    up to date (the dummy provider's events come from our own pages)."""
    if settings.payment_backend is not PaymentBackend.STRIPE:
        return
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            StripeEventsBackfillWorkflow.run,
            id=f"{BACKFILL_WORKFLOW_PREFIX}scheduled",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=settings.stripe_events_backfill_interval)]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(BACKFILL_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(BACKFILL_SCHEDULE_ID)
        await handle.update(lambda _current: ScheduleUpdate(schedule=schedule))


async def run(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then let running activities finish."""
    client = await temporal.connect(settings, runtime=_runtime(settings))
    missing = await temporal.missing_search_attributes(client, search.ALL)
    if missing:
        # A workflow upserting one would fail every task: refuse to start.
        raise SystemExit(
            f"guichet: search attributes missing in namespace {client.namespace!r}: "
            f"{', '.join(missing)} (run `guichet temporal setup`)"
        )
    engine = create_engine(
        settings.effective_database_url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    deps = WorkerDeps(settings=settings, sessionmaker=create_sessionmaker(engine))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with build_worker(client, deps, task_queue=settings.task_queue):
            logger.info(
                "worker polling",
                extra={
                    "fields": {
                        "task_queue": settings.task_queue,
                        "temporal": settings.effective_temporal_address,
                        "workflows": len(registered_workflows()),
                        "metrics": settings.worker_metrics_address or "off",
                    }
                },
            )
            await ensure_catalog_schedule(client, settings)
            await ensure_backfill_schedule(client, settings)
            await stop.wait()
            logger.info("worker stopping")
    finally:
        await engine.dispose()
