"""`guichet dev` from an empty data dir, on free ports: the README's run
command brings up Temporal, its Web UI, a worker and the API, serves the demo
catalogue with deep links, and stops everything on Ctrl-C."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli import free_port, temporal_binary
from domain.academies import SCHEDULE_ID
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

STARTUP_SECONDS = 120


class DevStack:
    def __init__(self, process: subprocess.Popen[str], ports: dict[str, int], log: Path) -> None:
        self.process = process
        self.ports = ports
        self.log = log
        self.api = f"http://127.0.0.1:{ports['api']}"

    def output(self) -> str:
        return self.log.read_text()

    def token(self, who: str) -> str:
        match = re.search(rf"{who} token.*\n(\S+)", self.output())
        assert match, self.output()
        return match.group(1)


def _wait_for_banner(stack: DevStack) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if "Press Ctrl-C to stop everything." in stack.output():
            return
        if stack.process.poll() is not None:
            pytest.fail(f"guichet dev exited early:\n{stack.output()}")
        time.sleep(0.5)
    pytest.fail(f"guichet dev not ready in {STARTUP_SECONDS} s:\n{stack.output()}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    data_dir = tmp_path_factory.mktemp("stack")
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port(), "codec": free_port()}
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(data_dir)),
        "GUICHET_DATA_DIR": str(data_dir / "data"),
        "GUICHET_API_PORT": str(ports["api"]),
        "GUICHET_TEMPORAL_PORT": str(ports["temporal"]),
        "GUICHET_TEMPORAL_UI_PORT": str(ports["ui"]),
        "GUICHET_CODEC_PORT": str(ports["codec"]),
    }
    log = data_dir / "dev.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "dev"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    running = DevStack(process, ports, log)
    try:
        _wait_for_banner(running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def test_ops_endpoints_answer(stack: DevStack) -> None:
    assert httpx.get(f"{stack.api}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{stack.api}/readyz")
    assert ready.status_code == 200, ready.text
    assert httpx.get(f"{stack.api}/docs").status_code == 200
    assert "guichet_http_requests_total" in httpx.get(f"{stack.api}/metrics").text


def test_temporal_web_ui_answers(stack: DevStack) -> None:
    response = httpx.get(f"http://127.0.0.1:{stack.ports['ui']}/", follow_redirects=True)
    assert response.status_code == 200


def test_worker_was_probed_end_to_end(stack: DevStack) -> None:
    assert "worker ok: database sqlite" in stack.output()


def test_demo_offerings_with_deep_links_are_served(stack: DevStack) -> None:
    offerings = httpx.get(f"{stack.api}/api/v1/offerings").json()
    assert offerings["count"] >= 3
    with_links = [item for item in offerings["results"] if item["deep_link"]]
    assert with_links, offerings
    link = httpx.get(f"{stack.api}/api/v1/offerings/{with_links[0]['id']}/deep-link").json()
    assert link["deep_link"].startswith("https://")


def test_printed_admin_token_opens_the_back_office(stack: DevStack) -> None:
    headers = {"Authorization": f"Bearer {stack.token('Admin')}"}
    response = httpx.get(f"{stack.api}/api/v1/admin/organizations", headers=headers)
    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_worker_exposes_temporal_sdk_metrics(stack: DevStack) -> None:
    match = re.search(r"metrics (http://\S+/metrics)", stack.output())
    assert match, stack.output()
    body = httpx.get(match.group(1)).text
    assert "temporal_" in body


def test_an_order_waits_for_its_card_in_the_stack(stack: DevStack) -> None:
    """A real order: its workflow stays running in the worker (and must not
    trouble the shutdown below)."""
    headers = {"Authorization": f"Bearer {stack.token('Learner')}"}
    offerings = httpx.get(f"{stack.api}/api/v1/offerings", params={"query": "web"}).json()
    body = {
        "offering_id": offerings["results"][0]["id"],
        "billing_address": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "address": "1 rue",
            "postcode": "75001",
            "city": "Paris",
            "country": "FR",
        },
    }
    response = httpx.post(f"{stack.api}/api/v1/orders", json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "to_save_payment_method"


def test_histories_hold_no_personal_data_and_the_ui_codec_reads_them(stack: DevStack) -> None:
    """The order's input (the learner's billing address) is encrypted in
    Temporal; the codec server decodes it for the Web UI's origin (dev mode)
    and for an admin token, for nobody else."""
    headers = {"Authorization": f"Bearer {stack.token('Learner')}"}
    # Another offering than the order test's (one active order per offering).
    web = httpx.get(f"{stack.api}/api/v1/offerings", params={"query": "web"}).json()
    others = httpx.get(f"{stack.api}/api/v1/offerings").json()["results"]
    offering = next(item for item in others if item["id"] != web["results"][0]["id"])
    address = {"first_name": "Grace", "last_name": "Hopper", "address": "7 rue Cobol"}
    address |= {"postcode": "75005", "city": "Paris", "country": "FR"}
    body = {"offering_id": offering["id"], "billing_address": address}
    order = httpx.post(f"{stack.api}/api/v1/orders", json=body, headers=headers, timeout=30)
    assert order.status_code == 201, order.text
    shown = subprocess.run(
        [temporal_binary(), "workflow", "show", "--workflow-id", f"order:{order.json()['id']}",
         "--address", f"127.0.0.1:{stack.ports['temporal']}", "--output", "json"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "Hopper" not in shown.stdout and "Cobol" not in shown.stdout
    assert "learner@guichet.localhost" not in shown.stdout
    started = json.loads(shown.stdout)["events"][0]
    payloads = started["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
    codec = f"http://127.0.0.1:{stack.ports['codec']}/decode"
    ui = {"Origin": f"http://127.0.0.1:{stack.ports['ui']}"}
    admin = {"Authorization": f"Bearer {stack.token('Admin')}"}
    for allowed in (ui, admin):
        decoded = httpx.post(codec, json={"payloads": payloads}, headers=allowed, timeout=10)
        assert decoded.status_code == 200, decoded.text
        data = base64.b64decode(decoded.json()["payloads"][0]["data"])
        assert b"Hopper" in data and b"7 rue Cobol" in data
    for refused, status in (({}, 401), (headers, 403)):
        answer = httpx.post(codec, json={"payloads": payloads}, headers=refused, timeout=10)
        assert answer.status_code == status


def test_demo_academies_are_served_and_scheduled(stack: DevStack) -> None:
    """The worker's start runs the catalogue sync on the bundled demo payload."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        academies = httpx.get(f"{stack.api}/api/v1/academy-products").json()
        if academies.get("count", 0) >= 3:
            break
        time.sleep(0.5)
    assert academies["count"] >= 3, academies
    assert all(item["prices"] and item["tags"] for item in academies["results"])
    schedule = subprocess.run(
        [temporal_binary(), "schedule", "describe", "--schedule-id", SCHEDULE_ID,
         "--address", f"127.0.0.1:{stack.ports['temporal']}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert schedule.returncode == 0, schedule.stderr
    assert "CatalogSyncWorkflow" in schedule.stdout


def test_a_learner_subscribes_to_an_academy_on_the_dummy_checkout_page(stack: DevStack) -> None:
    """From an academy to an active subscription, as the README tells it."""
    headers = {"Authorization": f"Bearer {stack.token('Learner')}"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{stack.api}/api/v1/academy-products").json().get("count", 0) >= 3:
            break
        time.sleep(0.5)
    intent = httpx.post(
        f"{stack.api}/api/v1/checkout-intents",
        json={"academy": "data-academy"},
        headers=headers,
        timeout=30,
    )
    assert intent.status_code == 201, intent.text
    url = intent.json()["checkout_url"]
    assert url.startswith(f"{stack.api}/api/v1/dummy-payments/checkout/")
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and 'value="pay"' in page.text
    key = url.split("key=", 1)[1]
    paid = httpx.post(url.split("?")[0], data={"key": key, "action": "pay"}, timeout=30)
    assert "Paid: your subscription is active." in paid.text, paid.text
    mine = httpx.get(f"{stack.api}/api/v1/subscriptions", headers=headers, timeout=10).json()
    (subscription,) = mine["results"]
    assert subscription["status"] == "active" and subscription["academy"]["name"] == "Data Academy"


def test_ctrl_c_stops_every_process(stack: DevStack) -> None:
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(60) == 0
    assert "Fatal Python error" not in stack.output()
    for port in stack.ports.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
