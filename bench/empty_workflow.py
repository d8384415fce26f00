"""The references of bench/orders.py and bench/tunnel_latency.py: workflows
that do nothing, and a worker for them (run as a process of its own, like
`guichet worker`).

    .venv/bin/python -m bench.empty_workflow --address 127.0.0.1:7233 --queue q
"""

from __future__ import annotations

import argparse
import asyncio

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker


@workflow.defn(name="EmptyWorkflow")
class EmptyWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(name="EmptyUpdateWorkflow")
class EmptyUpdateWorkflow:
    """The reference of bench/tunnel_latency.py: started with an update that
    answers at once (update-with-start), then done."""

    def __init__(self) -> None:
        self._answered = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._answered)

    @workflow.update
    async def answer(self) -> None:
        self._answered = True


async def _serve(address: str, queue: str) -> None:
    client = await Client.connect(address)
    async with Worker(client, task_queue=queue, workflows=[EmptyWorkflow, EmptyUpdateWorkflow]):
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--queue", required=True)
    args = parser.parse_args()
    asyncio.run(_serve(args.address, args.queue))


if __name__ == "__main__":
    main()
