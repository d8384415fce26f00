"""Business metrics (spec 65): the worker's Prometheus endpoint counts order
transitions, charge outcomes and money moved; the API's counts promo-code
activations and times webhooks to their signal. The Grafana dashboard names
only metrics that exist."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activities import metrics
from api.app import create_app
from cli import free_port
from tests.api.test_installments import _paid_order, _until
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.api.test_payment_webhooks import _deliver
from tests.api.test_promo_codes import activate, cart_of
from tests.conftest import ROOT, build_test_worker, token_for
from tests.factories import Factory

DASHBOARD = ROOT / "deploy" / "grafana" / "guichet.json"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Each sample of a Prometheus text page, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = frozenset(
                (key, value) for key, value in sample.labels.items() if key != "service_name"
            )
            found[(sample.name, labels)] = sample.value
    return found


def value(page: dict, name: str, **labels: str) -> float:
    """The sum of `name`'s samples with these labels (the worker's carry
    more: its activity, namespace and task queue)."""
    wanted = set(labels.items())
    return sum(found for (sample, have), found in page.items() if sample == name and wanted <= have)


async def _scraped(url: str, name: str, minimum: float, **labels: str) -> dict:
    """The page once `name{labels}` reached `minimum` (counted after commit)."""
    deadline = asyncio.get_running_loop().time() + 30
    async with httpx.AsyncClient() as client:
        while True:
            page = samples((await client.get(url)).text)
            if value(page, name, **labels) >= minimum:
                return page
            if asyncio.get_running_loop().time() > deadline:
                return page
            await asyncio.sleep(0.3)


async def test_the_worker_counts_transitions_charges_and_money(
    settings, factory: Factory, sessionmaker, temporal_env
) -> None:
    port = free_port()
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))
    )
    address = temporal_env.client.service_client.config.target_host
    client = await Client.connect(address, data_converter=pydantic_data_converter, runtime=runtime)
    url = f"http://127.0.0.1:{port}/metrics"
    async with build_test_worker(client, settings, sessionmaker) as queue:
        application = create_app(
            settings.model_copy(update={"task_queue": queue, "temporal_address": address})
        )
        admin_headers = {"Authorization": f"Bearer {token_for(sub='ops-admin', roles=['admin'])}"}
        headers = {"Authorization": f"Bearer {token_for(sub='metrics-learner', roles=[])}"}
        transport = httpx.ASGITransport(app=application)
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as learner,
            httpx.AsyncClient(
                transport=transport, base_url="http://t", headers=admin_headers
            ) as admin,
        ):
            paid = await _paid_order(learner, factory, "pm_card_visa")
            refused = await _paid_order(learner, factory, "pm_card_chargeDeclinedLostCard")
            await _until(learner, paid["id"], "pending_payment")
            await _until(learner, refused["id"], "no_payment")
            assert (await admin.post(f"/api/v1/admin/orders/{paid['id']}/refund")).is_success
            await _until(learner, paid["id"], "refunded")
        page = await _scraped(url, metrics.REFUNDED, 13500, currency="EUR")

    assert value(page, metrics.CHARGES, outcome="paid") >= 1
    assert value(page, metrics.CHARGES, outcome="refused_hard") == 1
    assert value(page, metrics.CHARGED, currency="EUR") == 13500 * value(
        page, metrics.CHARGES, outcome="paid"
    )
    assert value(page, metrics.REFUNDED, currency="EUR") == 13500
    moved = {"from_state": "to_save_payment_method", "to_state": "pending"}
    assert value(page, metrics.TRANSITIONS, **moved) == 2
    assert value(page, metrics.TRANSITIONS, from_state="pending", to_state="no_payment") == 1


async def test_the_api_counts_activations_and_times_webhooks(
    client_for, anonymous: httpx.AsyncClient
) -> None:
    member = await client_for(sub=f"member-{uuid.uuid4().hex[:6]}")
    cart = await cart_of(member)
    # Nothing a code could be (a code is letters, digits and dashes): no lookup.
    assert (await activate(member, cart["id"], "NOT A CODE!")).status_code == 400
    assert (await activate(member, cart["id"], "NO-SUCH-CODE")).status_code == 400
    event = {"event_id": f"evt_{uuid.uuid4().hex}", "type": "charge_succeeded"}
    event |= {"kind": "charge_succeeded", "charge_reference": "dummy_pi_nobody"}
    assert (await _deliver(anonymous, event)).json() == {"status": "ignored"}
    page = samples((await anonymous.get("/metrics")).text)
    assert value(page, "guichet_promo_activations_total", outcome="malformed") == 1
    assert value(page, "guichet_promo_activations_total", outcome="invalid") == 1
    assert value(page, "guichet_webhook_to_signal_seconds_count", source="dummy") == 1


async def test_the_dashboard_names_only_metrics_that_exist(
    anonymous: httpx.AsyncClient,
) -> None:
    """Every metric a panel queries is one the API serves (read off its
    /metrics page) or the worker counts (activities/metrics.py)."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    named = {name for query in queries for name in re.findall(r"\b(guichet_[a-z_]+)", query)}
    api = {
        family.name
        for family in text_string_to_metric_families((await anonymous.get("/metrics")).text)
    }
    exposed = api | set(metrics.DESCRIPTIONS)
    # Counters are served with _total, histograms as _bucket, _sum, _count.
    served = (
        exposed
        | {f"{name}_total" for name in exposed}
        | {f"{name}_{part}" for name in exposed for part in ("bucket", "sum", "count")}
    )
    assert named - served == set()
    assert set(metrics.DESCRIPTIONS) <= named
