"""WorkerHealthWorkflow on the real dev server, and the worker registry."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid

from temporalio import activity, workflow
from temporalio.client import Client

import activities
import workflows
from domain.health import WorkerHealth
from tests.factories import Factory
from tests.workflows.histories import save_history
from worker import WorkerDeps, registered_activities, registered_workflows
from workflows.health import WORKFLOW_ID_PREFIX, WorkerHealthWorkflow


async def test_worker_reaches_the_database(
    temporal_client: Client, worker, task_queue: str, factory: Factory, database_url: str
) -> None:
    await factory.organization()
    await factory.organization()
    handle = await temporal_client.start_workflow(
        WorkerHealthWorkflow.run, id=f"{WORKFLOW_ID_PREFIX}{uuid.uuid4()}", task_queue=task_queue
    )
    health = await handle.result()
    assert isinstance(health, WorkerHealth)
    assert health.database.dialect == database_url.split("+")[0]
    assert health.database.organizations == 2
    save_history("worker_health", await handle.fetch_history())


def _modules(package) -> list:
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    ]


def test_registry_registers_every_workflow_and_activity(settings, sessionmaker) -> None:
    # The SDK's own definition lookups find what the decorators declared.
    declared_workflows = {
        cls
        for module in _modules(workflows)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and workflow._Definition.from_class(cls)
    }
    assert declared_workflows == set(registered_workflows())

    declared_activities = {
        definition.name
        for module in _modules(activities)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__
        for _, method in inspect.getmembers(cls, inspect.isfunction)
        if (definition := activity._Definition.from_callable(method))
    }
    deps = WorkerDeps(settings=settings, sessionmaker=sessionmaker)
    registered = {
        activity._Definition.must_from_callable(item).name for item in registered_activities(deps)
    }
    assert declared_activities == registered
