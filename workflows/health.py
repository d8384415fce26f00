"""WorkerHealthWorkflow: proves a worker polls the task queue and reaches the
database, end to end through Temporal (`guichet check-worker`, `guichet dev`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows import search

with workflow.unsafe.imports_passed_through():
    from activities.health import HealthActivities
    from domain.health import WorkerHealth

WORKFLOW_ID_PREFIX = "worker-health:"


@workflow.defn(name="WorkerHealthWorkflow")
class WorkerHealthWorkflow:
    @workflow.run
    async def run(self) -> WorkerHealth:
        search.index_start("worker_health")
        probe = await workflow.execute_activity_method(
            HealthActivities.probe_database,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return WorkerHealth(database=probe, checked_at=workflow.now())
