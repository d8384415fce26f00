"""Operators find processes without knowing an id (spec 65): the `temporal`
CLI's `workflow list --query`, as an operator runs it, on the search
attributes the workflows keep up to date."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from cli import temporal_binary
from integrations import temporal
from tests.api.test_backoffice import browser, log_in  # noqa: F401 - fixture
from tests.api.test_installments import _paid_order, _until
from tests.api.test_orders import _create, _offering, app  # noqa: F401 - the API with a worker
from tests.api.tunnel import ADDRESS
from tests.conftest import ROOT, process_env
from tests.factories import Factory
from tests.workflows.histories import save_history
from workflows import search


async def temporal_list(env: WorkflowEnvironment, query: str) -> set[str]:
    """The ids `temporal workflow list --query` prints."""
    process = await asyncio.create_subprocess_exec(
        temporal_binary(),
        "workflow",
        "list",
        "--address",
        env.client.service_client.config.target_host,
        "--namespace",
        env.client.namespace,
        "--query",
        query,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    listed = json.loads(out or b"[]")
    return {item["execution"]["workflowId"] for item in listed}


async def until_listed(env: WorkflowEnvironment, query: str, expected: set[str]) -> set[str]:
    """Visibility follows a change within moments: ask until it says `expected`."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        found = await temporal_list(env, query)
        if found == expected or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.3)


async def test_an_operator_finds_orders_by_state_learner_and_overdue(
    client_for, factory: Factory, temporal_env: WorkflowEnvironment
) -> None:
    learner_id = f"ops-{uuid.uuid4().hex[:10]}"
    learner = await client_for(sub=learner_id)
    refused = await _paid_order(learner, factory, "pm_card_chargeDeclinedLostCard")
    paying = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, refused["id"], "no_payment")
    await _until(learner, paying["id"], "pending_payment")
    ids = {
        name: f"order:{order['id']}" for name, order in (("refused", refused), ("paying", paying))
    }
    mine = f"GuichetLearner='{learner_id}'"

    assert await until_listed(
        temporal_env, f"GuichetKind='order' AND {mine}", set(ids.values())
    ) == set(ids.values())
    assert await until_listed(
        temporal_env, f"GuichetOrderState='no_payment' AND {mine}", {ids["refused"]}
    ) == {ids["refused"]}
    assert await until_listed(
        temporal_env, f"GuichetOrderState='pending_payment' AND {mine}", {ids["paying"]}
    ) == {ids["paying"]}
    assert await until_listed(
        temporal_env, f"GuichetOverdueSince IS NOT NULL AND {mine}", {ids["refused"]}
    ) == {ids["refused"]}
    organization = paying["organization"]["code"]
    assert await until_listed(
        temporal_env, f"GuichetOrganization='{organization}'", {ids["paying"]}
    ) == {ids["paying"]}
    assert await until_listed(
        temporal_env, f"GuichetNextDueAt IS NOT NULL AND {mine}", set(ids.values())
    ) == set(ids.values())
    handle = temporal_env.client.get_workflow_handle(ids["refused"])
    save_history("order_indexed_refused", await handle.fetch_history())


async def _guichet(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode().strip()


async def test_a_worker_refuses_a_namespace_without_setup_then_setup_registers_once(
    settings,
) -> None:
    """A cluster without Guichet's search attributes: the worker says which
    are missing and stops (it would fail every workflow task); `guichet
    temporal setup` registers them, and again changes nothing."""
    bare = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), dev_server_log_level="error"
    )
    try:
        address = bare.client.service_client.config.target_host
        env = process_env(settings.model_copy(update={"temporal_address": address}))
        code, said = await _guichet(env, "worker")
        assert code != 0
        assert said.splitlines()[-1].startswith("guichet: search attributes missing")
        assert "GuichetOrderState" in said and "guichet temporal setup" in said
        code, said = await _guichet(env, "temporal", "setup")
        assert code == 0 and "registered Guichet" in said, said
        assert await temporal.missing_search_attributes(bare.client, search.ALL) == []
        code, said = await _guichet(env, "temporal", "setup")
        assert code == 0 and "registered in 'default' already" in said, said
    finally:
        await bare.shutdown()


async def test_guichet_orders_find_and_show_answer_without_an_id(
    client_for, factory: Factory, settings, temporal_env: WorkflowEnvironment
) -> None:
    learner_id = f"ops-cli-{uuid.uuid4().hex[:8]}"
    learner = await client_for(sub=learner_id, email=f"{learner_id}@Example.org")
    refused = await _paid_order(learner, factory, "pm_card_chargeDeclinedLostCard")
    # Its course starts in three months: the next installments wait on timers.
    paying = await _paid_order(learner, factory, "pm_card_visa", starts_in=timedelta(days=90))
    await _until(learner, refused["id"], "no_payment")
    await _until(learner, paying["id"], "pending")
    mine = f"GuichetLearner='{learner_id}'"
    await until_listed(
        temporal_env, f"GuichetOverdueSince IS NOT NULL AND {mine}", {f"order:{refused['id']}"}
    )
    address = temporal_env.client.service_client.config.target_host
    env = process_env(settings.model_copy(update={"temporal_address": address}))

    code, said = await _guichet(
        env, "orders", "find", "--email", f"{learner_id}@example.org", "--overdue"
    )
    assert code == 0, said
    assert refused["id"] in said and paying["id"] not in said
    assert "no_payment" in said and "1 orders" in said
    code, said = await _guichet(
        env, "orders", "find", "--learner", learner_id, "--state", "pending"
    )
    assert code == 0 and paying["id"] in said and refused["id"] not in said, said
    code, said = await _guichet(env, "orders", "find", "--learner", "o'neil")
    assert code == 2 and "quotes" in said.splitlines()[-1] and "Traceback" not in said, said
    code, said = await _guichet(env, "orders", "find", "--state", "lost")
    assert code != 0 and "unknown state 'lost'" in said

    code, said = await _guichet(env, "orders", "show", paying["id"])
    assert code == 0, said
    lines = said.splitlines()
    assert lines[0] == f"order {paying['id']}"
    events = [line for line in lines if "  event  " in line]
    timers = [line for line in lines if "  timer  " in line]
    assert "created" in events[0] and any("payment_method_saved" in line for line in events)
    # Next: the reminder before the first installment, weeks ahead.
    assert timers and all("fires (set " in line for line in timers)
    moments = [line[:23] for line in lines[1:]]
    assert moments == sorted(moments)
    assert max(moments) > f"{datetime.now(UTC) + timedelta(days=7):%Y-%m-%d}"
    await _the_web_ui_reads_what_the_order_is_and_waits_for(temporal_env, paying)


async def _the_web_ui_reads_what_the_order_is_and_waits_for(
    temporal_env: WorkflowEnvironment, order: dict
) -> None:
    """Its summary (static), its current details, and what its timers and
    activities are for: what the Web UI shows beside the workflow id."""
    handle = temporal_env.client.get_workflow_handle(f"order:{order['id']}")
    course, organization = order["offering"]["course"]["code"], order["organization"]["code"]
    assert await (await handle.describe()).static_summary() == (
        f"Order · 450.00 EUR · {course} · organization {organization}"
    )
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = metadata.current_details.splitlines()
    assert details[0] == "state: pending"
    assert details[1].startswith("next: installment 1/3, 135.00 EUR, due ")
    converter = DataConverter.default.payload_converter
    summaries = [
        converter.from_payload(event.user_metadata.summary, str)
        for event in (await handle.fetch_history()).events
        if event.HasField("timer_started_event_attributes") and event.HasField("user_metadata")
    ]
    assert "reminder 1/3" in summaries


async def test_admins_find_orders_by_learner_organization_and_day(
    client_for,
    admin,
    browser,  # noqa: F811 - the fixture imported above
    factory: Factory,
) -> None:
    tag = uuid.uuid4().hex[:8]
    ada = await client_for(sub=f"ada-{tag}", email=f"ada-{tag}@example.org")
    bob = await client_for(sub=f"bob-{tag}")
    first, second = await _offering(factory), await _offering(factory)
    made = {
        "ada_first": (await _create(ada, first, billing_address=ADDRESS)).json(),
        "ada_second": (await _create(ada, second, billing_address=ADDRESS)).json(),
        "bob_first": (await _create(bob, first, billing_address=ADDRESS)).json(),
    }
    code = made["ada_first"]["organization"]["code"]
    today = datetime.now(UTC).date()

    async def found(**params: str) -> set[str]:
        answer = await admin.get("/api/v1/admin/orders", params=params)
        assert answer.status_code == 200, answer.text
        ids = {item["id"] for item in answer.json()["results"]}
        return {name for name, order in made.items() if order["id"] in ids}

    assert await found(learner=f"ADA-{tag}@Example.org") == {"ada_first", "ada_second"}
    assert await found(learner=f"bob-{tag}") == {"bob_first"}
    assert await found(organization=code.lower()) == {"ada_first", "bob_first"}
    assert await found(learner=f"ada-{tag}", organization=code) == {"ada_first"}
    assert await found(learner=f"ada-{tag}", created_to=str(today)) == {"ada_first", "ada_second"}
    tomorrow = str(today + timedelta(days=1))
    assert await found(learner=f"ada-{tag}", created_from=tomorrow) == set()
    misspelt = await admin.get("/api/v1/admin/orders", params={"owner": f"ada-{tag}"})
    assert misspelt.status_code == 422
    assert misspelt.json()["error"]["code"] == "unknown_query_parameter"
    assert "owner" in misspelt.json()["error"]["message"]

    client = browser()
    await log_in(client, "admin")
    page = await client.get("/backoffice/orders", params={"learner": f"ada-{tag}@example.org"})
    assert page.status_code == 200
    for name in ("ada_first", "ada_second"):
        assert f'href="/backoffice/orders/{made[name]["id"]}"' in page.text
    assert made["bob_first"]["id"] not in page.text
    assert f"ada-{tag}" in page.text and code in page.text
    order_page = await client.get(f"/backoffice/orders/{made['ada_first']['id']}")
    workflow = f"/namespaces/default/workflows/order%3A{made['ada_first']['id']}"
    assert workflow in order_page.text
    assert "organization_id: " in order_page.text  # the events' details
    assert re.search(
        r"<td data-label=\"When\">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>", order_page.text
    )
