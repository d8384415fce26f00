"""Vouchers administration (spec 55): discount vouchers made, changed, listed
and exported by an admin; orders refuse one outside its dates or past its
cap with the reason. Orders run on the real order workflow."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.client import WorkflowFailureError

from domain.catalog import ProductType
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.api.tunnel import ADDRESS
from tests.conftest import ClientFor
from tests.factories import Factory
from tests.workflows.histories import save_history

VOUCHERS = "/api/v1/admin/vouchers"


def _moment(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def _offering(factory: Factory, *, price: str = "400.00"):
    """An offering without course runs or contract: an order is placed at once."""
    product = await factory.product(type=ProductType.CERTIFICATE, price=price)
    return await factory.offering(product=product)


async def _voucher(admin: httpx.AsyncClient, **body) -> dict:
    response = await admin.post(VOUCHERS, json={"discount": {"rate": "0.25"}} | body)
    assert response.status_code == 201, response.text
    return response.json()


async def _order(client: httpx.AsyncClient, offering, code: str) -> httpx.Response:
    return await client.post(
        "/api/v1/orders",
        json={
            "offering_id": str(offering.id),
            "voucher_code": code,
            "billing_address": ADDRESS,
        },
    )


def _refusal(response: httpx.Response) -> tuple[int, str, object]:
    error = response.json()["error"]
    return response.status_code, error["code"], error.get("details")


async def test_an_admin_makes_a_voucher_with_a_code_given_or_drawn(
    admin: httpx.AsyncClient, client_for: ClientFor, factory: Factory
) -> None:
    offering = await _offering(factory)
    given = await _voucher(
        admin,
        code=" rentree-2027 ",
        discount={"amount": "50"},
        multiple_users=True,
        valid_from=_moment(-1),
        valid_until=_moment(30),
        max_uses=100,
        offering_id=str(offering.id),
    )
    assert given["code"] == "RENTREE-2027"
    assert given["kind"] == "discount"
    assert given["discount"] == {"rate": None, "amount": "50.00"}
    assert given["offering"]["id"] == str(offering.id)
    assert given["usage"] == {"uses": 0, "users": 0}
    assert given["created_by"] == "admin-1"
    assert given["orders"] == []
    drawn = await _voucher(admin, discount={"rate": "1"})
    assert len(drawn["code"]) == 20 and drawn["discount"]["rate"] == "1.00"
    assert drawn["multiple_use"] is drawn["multiple_users"] is False
    read = await admin.get(f"{VOUCHERS}/{given['id']}")
    assert read.json() == given

    taken = await admin.post(VOUCHERS, json={"code": "Rentree-2027", "discount": {"rate": "0.1"}})
    assert _refusal(taken)[:2] == (409, "voucher_code_taken")
    backwards = await admin.post(
        VOUCHERS,
        json={"discount": {"rate": "0.1"}, "valid_from": _moment(2), "valid_until": _moment(1)},
    )
    assert _refusal(backwards)[:2] == (422, "voucher_dates_out_of_order")
    nowhere = await admin.post(
        VOUCHERS,
        json={"discount": {"rate": "0.1"}, "offering_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert _refusal(nowhere)[:2] == (404, "offering_not_found")
    for bad in (
        {"discount": {"rate": "0.1", "amount": "5"}},
        {"discount": {}},
        {"discount": {"rate": "1.5"}},
        {"discount": {"amount": "0"}},
        {"discount": {"rate": "0.1"}, "code": "NO SPACES"},
        {"discount": {"rate": "0.1"}, "code": "AB"},
        {"discount": {"rate": "0.1"}, "max_uses": 0},
        {"discount": {"rate": "0.1"}, "percent": 10},
    ):
        assert (await admin.post(VOUCHERS, json=bad)).status_code == 422, bad
    learner = await client_for(sub="learner-1")
    assert (await learner.post(VOUCHERS, json={"discount": {"rate": "0.1"}})).status_code == 403
    assert (await learner.get(VOUCHERS)).status_code == 403
    assert (await admin.get(f"{VOUCHERS}/{offering.id}")).status_code == 404


async def test_a_patch_changes_only_what_it_sends(
    admin: httpx.AsyncClient, factory: Factory
) -> None:
    first, second = await _offering(factory), await _offering(factory)
    voucher = await _voucher(admin, valid_until=_moment(10), max_uses=5, offering_id=str(first.id))
    url = f"{VOUCHERS}/{voucher['id']}"
    moved = (await admin.patch(url, json={"offering_id": str(second.id)})).json()
    assert moved["offering"]["id"] == str(second.id)
    cleared = (await admin.patch(url, json={"offering_id": None})).json()
    assert cleared["offering"] is None and (await admin.get(url)).json()["offering"] is None
    changed = await admin.patch(url, json={"discount": {"amount": "20.00"}, "valid_until": None})
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["discount"] == {"rate": None, "amount": "20.00"}
    assert after["valid_until"] is None and after["max_uses"] == 5
    assert after["code"] == voucher["code"]
    off = (await admin.patch(url, json={"is_active": False})).json()
    assert off["is_active"] is False and off["discount"]["amount"] == "20.00"
    backwards = await admin.patch(url, json={"valid_from": _moment(5), "valid_until": _moment(4)})
    assert _refusal(backwards)[:2] == (422, "voucher_dates_out_of_order")
    for bad in ({"discount": None}, {"is_active": None}, {"code": "OTHER"}, {"max_uses": -1}):
        assert (await admin.patch(url, json=bad)).status_code == 422, bad
    assert (await admin.get(url)).json()["valid_from"] is None  # nothing half-written
    missing = await admin.patch(f"{VOUCHERS}/{voucher['id'][:-4]}0000", json={"is_active": True})
    assert _refusal(missing)[:2] == (404, "voucher_not_found")


async def test_the_list_filters_and_the_csv_exports(admin: httpx.AsyncClient) -> None:
    for code in ("SPRING-A", "SPRING-B", "AUTUMN"):
        await _voucher(admin, code=code)
    spring = await _voucher(admin, code="SPRING-OFF", discount={"amount": "9.90"})
    await admin.patch(f"{VOUCHERS}/{spring['id']}", json={"is_active": False})

    listed = (await admin.get(VOUCHERS, params={"query": "spring"})).json()
    assert [item["code"] for item in listed["results"]] == ["SPRING-OFF", "SPRING-B", "SPRING-A"]
    active = (await admin.get(VOUCHERS, params={"query": "spring", "is_active": "true"})).json()
    assert active["count"] == 2
    paged = (await admin.get(VOUCHERS, params={"page_size": 2, "kind": "discount"})).json()
    assert paged["count"] == 4 and len(paged["results"]) == 2 and paged["next"]
    assert (await admin.get(VOUCHERS, params={"query": "%"})).json()["count"] == 0
    typo = await admin.get(VOUCHERS, params={"active": "true"})
    assert _refusal(typo)[:2] == (422, "unknown_query_parameter")

    exported = await admin.get(f"{VOUCHERS}.csv", params={"query": "spring-off"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 1
    assert {key: rows[0][key] for key in ("code", "discount_amount", "is_active", "uses")} == {
        "code": "SPRING-OFF",
        "discount_amount": "9.90",
        "is_active": "no",
        "uses": "0",
    }


async def test_orders_refuse_a_voucher_outside_its_dates_with_the_reason(
    admin: httpx.AsyncClient, learner: httpx.AsyncClient, anonymous, factory: Factory
) -> None:
    offering = await _offering(factory)
    later = await _voucher(admin, code="LATER", valid_from=_moment(1))
    over = await _voucher(admin, code="OVER", valid_until=_moment(-1))
    plan = f"/api/v1/offerings/{offering.id}/payment-plan"

    early = await _order(learner, offering, "later")
    assert _refusal(early) == (
        400,
        "unusable_voucher",
        {"reason": "not_yet_valid", "valid_from": later["valid_from"]},
    )
    shown = await anonymous.get(plan, params={"voucher_code": "LATER"})
    assert _refusal(shown)[2]["reason"] == "not_yet_valid"
    late = await _order(learner, offering, "OVER")
    assert _refusal(late) == (
        400,
        "unusable_voucher",
        {"reason": "expired", "valid_until": over["valid_until"]},
    )
    # Opened now, it takes its quarter off.
    await admin.patch(f"{VOUCHERS}/{later['id']}", json={"valid_from": _moment(-1)})
    assert (await anonymous.get(plan, params={"voucher_code": "LATER"})).json()[
        "discounted_price"
    ] == "300.00"
    placed = await _order(learner, offering, "LATER")
    assert placed.status_code == 201, placed.text
    assert placed.json()["total"] == "300.00"


async def test_max_uses_counts_orders_and_a_cancel_gives_a_use_back(
    admin: httpx.AsyncClient, client_for: ClientFor, factory: Factory
) -> None:
    offering = await _offering(factory)
    voucher = await _voucher(admin, code="TWICE", multiple_users=True, max_uses=2)
    learners = [
        await client_for(sub=f"learner-{n}", email=f"learner{n}@example.org") for n in range(3)
    ]
    first, second = [await _order(client, offering, "TWICE") for client in learners[:2]]
    assert first.status_code == second.status_code == 201
    third = await _order(learners[2], offering, "TWICE")
    assert _refusal(third) == (
        400,
        "unusable_voucher",
        {"reason": "max_uses_reached", "max_uses": 2},
    )
    detail = (await admin.get(f"{VOUCHERS}/{voucher['id']}")).json()
    assert detail["usage"] == {"uses": 2, "users": 2}
    assert {(item["email"], item["counted"]) for item in detail["orders"]} == {
        ("learner0@example.org", True),
        ("learner1@example.org", True),
    }

    canceled = await learners[0].post(f"/api/v1/orders/{first.json()['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    detail = (await admin.get(f"{VOUCHERS}/{voucher['id']}")).json()
    assert detail["usage"] == {"uses": 1, "users": 1}
    assert ("learner0@example.org", False) in {
        (item["email"], item["counted"]) for item in detail["orders"]
    }
    assert (await _order(learners[2], offering, "TWICE")).status_code == 201
    listed = (await admin.get(VOUCHERS, params={"query": "TWICE"})).json()
    assert listed["results"][0]["usage"] == {"uses": 2, "users": 2}
    # Deactivated, it is no voucher at all for a learner.
    await admin.patch(f"{VOUCHERS}/{voucher['id']}", json={"is_active": False, "max_uses": None})
    gone = await _order(await client_for(sub="learner-9"), offering, "TWICE")
    assert _refusal(gone)[:2] == (400, "invalid_voucher")


async def test_learners_racing_for_the_last_use_get_one_order(
    admin: httpx.AsyncClient, client_for: ClientFor, factory: Factory, temporal_client
) -> None:
    """The voucher's row is locked while an order is written: eight learners
    at once on a one-use voucher make exactly one order. Those the order's
    creation step refuses (past the API's own check) get the refusal, not a
    500: the run answers its `created` update before it fails."""
    offering = await _offering(factory)
    voucher = await _voucher(admin, code="LAST-ONE", multiple_users=True, max_uses=1)
    subs = [f"racer-{n}" for n in range(8)]
    racers = [await client_for(sub=sub) for sub in subs]
    answers = await asyncio.gather(*(_order(client, offering, "LAST-ONE") for client in racers))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [400] * 7, [answer.text for answer in answers]
    assert {_refusal(answer)[2]["reason"] for answer in answers if answer.status_code == 400} == {
        "max_uses_reached"
    }
    detail = (await admin.get(f"{VOUCHERS}/{voucher['id']}")).json()
    assert detail["usage"]["uses"] == 1 and len(detail["orders"]) == 1
    loser = next(
        sub for sub, answer in zip(subs, answers, strict=True) if answer.status_code == 400
    )
    refused = await _refused_run(temporal_client, loser)
    if refused is not None:
        save_history("order_refused_at_creation", await refused.fetch_history())


async def _refused_run(temporal_client, sub: str):
    """The run that the creation step refused for this learner, if the API's
    check did not refuse first (then there is none)."""
    query = f"WorkflowType = 'OrderWorkflow' AND GuichetLearner = '{sub}'"
    async for found in temporal_client.list_workflows(query):
        handle = temporal_client.get_workflow_handle(found.id, run_id=found.run_id)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        return handle
    return None
