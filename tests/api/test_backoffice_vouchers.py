"""The back office's voucher pages (spec 55): the list with usage and its
CSV, a voucher made with a percentage and dates typed in Paris time,
restricted to an offering found by search, edited, deactivated; refusals
shown with their reason; a prepaid seat's voucher read only."""

from __future__ import annotations

import csv
import io

import httpx

from domain.catalog import ProductType
from tests.api.test_backoffice import _csrf, browser, log_in  # noqa: F401 - fixture
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.api.tunnel import ADDRESS
from tests.conftest import ClientFor
from tests.factories import Factory

TERMS = {
    "code": "rentree-2027",
    "discount_kind": "rate",
    "discount_value": "12,5",
    "multiple_users": "on",
    "valid_from": "2026-09-01T00:00",
    "valid_until": "2027-09-30T23:59",
    "max_uses": "40",
}


async def test_a_voucher_is_made_edited_and_deactivated_from_its_pages(
    browser,  # noqa: F811 - the fixture imported above
    admin: httpx.AsyncClient,
    factory: Factory,
) -> None:
    product = await factory.product(type=ProductType.CERTIFICATE, title="Certificat Python")
    offering = await factory.offering(product=product)
    client = browser()
    await log_in(client, "admin")
    listing = await client.get("/backoffice/vouchers")
    assert listing.status_code == 200 and 'href="/backoffice/vouchers/new"' in listing.text
    search = await client.get("/backoffice/vouchers/new", params={"q": "certificat python"})
    choose = f"offering_id={offering.id}"
    assert choose in search.text
    form = await client.get(f"/backoffice/vouchers/new?q=certificat+python&{choose}")
    assert f'<option value="{offering.id}" selected>' in form.text
    created = await client.post(
        "/backoffice/vouchers/new",
        data={"csrf_token": _csrf(form), **TERMS, "offering_id": str(offering.id)},
    )
    assert created.status_code == 303, created.text
    page = await client.get(created.headers["location"])
    assert "Voucher RENTREE-2027 created." in page.text and "12.5 %" in page.text
    voucher_id = created.headers["location"].split("/")[-1].split("?")[0]
    voucher = (await admin.get(f"/api/v1/admin/vouchers/{voucher_id}")).json()
    assert voucher["discount"]["rate"] == "0.125" and voucher["max_uses"] == 40
    # Typed in Paris time (UTC+2 on 1 September), kept in UTC.
    assert voucher["valid_from"] == "2026-08-31T22:00:00Z"
    assert voucher["offering"]["id"] == str(offering.id) and voucher["multiple_users"]

    # Amount instead of rate, no end, any offering: each field sent is saved.
    edited = TERMS | {"discount_kind": "amount", "discount_value": "30", "valid_until": ""}
    saved = await client.post(
        f"/backoffice/vouchers/{voucher_id}",
        data={"csrf_token": _csrf(page), **edited, "offering_id": ""},
    )
    assert saved.status_code == 303, saved.text
    now = (await admin.get(f"/api/v1/admin/vouchers/{voucher_id}")).json()
    assert now["discount"] == {"rate": None, "amount": "30.00"}
    assert now["valid_until"] is None and now["offering"] is None

    for bad, said, status in (
        (edited | {"valid_until": "2026-01-01T00:00"}, "valid_from must come before", 422),
        (edited | {"discount_value": "lots"}, "is a number", 422),
        (edited | {"discount_kind": "rate", "discount_value": "150"}, "discount", 422),
    ):
        refused = await client.post(
            f"/backoffice/vouchers/{voucher_id}", data={"csrf_token": _csrf(page), **bad}
        )
        assert refused.status_code == status, refused.text
        assert said in refused.text
    taken = await client.post(
        "/backoffice/vouchers/new", data={"csrf_token": _csrf(form), **TERMS, "offering_id": ""}
    )
    assert taken.status_code == 409 and "RENTREE-2027 is taken" in taken.text

    off = await client.post(
        f"/backoffice/vouchers/{voucher_id}/active",
        data={"csrf_token": _csrf(page), "action": "deactivate"},
    )
    assert off.status_code == 303
    assert (await admin.get(f"/api/v1/admin/vouchers/{voucher_id}")).json()["is_active"] is False
    inactive = await client.get("/backoffice/vouchers", params={"active": "no"})
    assert "RENTREE-2027" in inactive.text and "Deactivated" in inactive.text
    exported = await client.get("/backoffice/vouchers.csv", params={"query": "rentree"})
    (row,) = csv.DictReader(io.StringIO(exported.text))
    assert (row["code"], row["discount_amount"], row["is_active"]) == (
        "RENTREE-2027",
        "30.00",
        "no",
    )
    # Vouchers are the admin's: a promo manager sees neither the list nor the export.
    manager = browser()
    await log_in(manager, "promo_manager")
    for path in (
        "/backoffice/vouchers",
        "/backoffice/vouchers.csv",
        f"/backoffice/vouchers/{voucher_id}",
    ):
        assert (await manager.get(path)).status_code == 403, path


async def test_the_list_shows_usage_and_a_seat_voucher_stays_its_orders(
    browser,  # noqa: F811
    admin: httpx.AsyncClient,
    client_for: ClientFor,
    factory: Factory,
) -> None:
    product = await factory.product(type=ProductType.CERTIFICATE, price="200.00")
    offering = await factory.offering(product=product)
    await admin.post(
        "/api/v1/admin/vouchers",
        json={"code": "TEAM", "discount": {"rate": "0.5"}, "multiple_users": True},
    )
    learner = await client_for(sub="ada", email="ada@example.org")
    placed = await learner.post(
        "/api/v1/orders",
        json={"offering_id": str(offering.id), "voucher_code": "team", "billing_address": ADDRESS},
    )
    assert placed.status_code == 201, placed.text
    seats = await admin.post(
        "/api/v1/admin/orders", json={"product_id": str(product.id), "count": 1}
    )
    assert seats.status_code == 201, seats.text
    client = browser()
    await log_in(client, "admin")

    listing = await client.get("/backoffice/vouchers", params={"query": "team"})
    assert "TEAM" in listing.text and "50 %" in listing.text
    assert "1 <span" in listing.text and "(1 learner)" in listing.text
    team = (await admin.get("/api/v1/admin/vouchers", params={"query": "TEAM"})).json()
    page = await client.get(f"/backoffice/vouchers/{team['results'][0]['id']}")
    assert "ada@example.org" in page.text and placed.json()["id"] in page.text

    seat_code = seats.json()[0]["voucher"]["code"]
    assert seat_code not in listing.text
    seats_listed = await client.get("/backoffice/vouchers", params={"kind": "prepaid_seat"})
    assert seat_code in seats_listed.text and "Prepaid seat" in seats_listed.text
    seat = (await admin.get("/api/v1/admin/vouchers", params={"query": seat_code})).json()
    seat_page = await client.get(f"/backoffice/vouchers/{seat['results'][0]['id']}")
    assert "a prepaid seat&#39;s" in seat_page.text or "prepaid seat's" in seat_page.text
    assert "Deactivate" not in seat_page.text and "Save" not in seat_page.text
