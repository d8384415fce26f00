"""The back office's catalogue pages (spec 65): organizations with their
signatories and invoice fields, products with their tax rate, created and
edited as the JSON admin routes do, refusals shown with their reason."""

from __future__ import annotations

import uuid

import httpx

from tests.api.test_backoffice import _csrf, browser, log_in  # noqa: F401 - fixture
from tests.api.test_orders import app  # noqa: F401 - the API with a worker


async def test_an_organization_is_created_and_edited_from_its_pages(
    browser,  # noqa: F811 - the fixture imported above
    admin: httpx.AsyncClient,
) -> None:
    client = browser()
    await log_in(client, "admin")
    code = f"ORG-{uuid.uuid4().hex[:6].upper()}"
    listing = await client.get("/backoffice/organizations")
    assert listing.status_code == 200 and 'href="/backoffice/products"' in listing.text
    fields = {
        "code": code,
        "title": "École Exemple",
        "country": "fr",
        "signatories": "Claire Martin <claire@ecole.example>\nKarim Benali <karim@ecole.example>",
        "legal_name": "École Exemple SAS",
        "registration_number": "123 456 789 00012",
        "vat_number": "FR12345678901",
        "address_address": "5 quai Voltaire",
        "address_postcode": "69002",
        "address_city": "Lyon",
        "address_country": "FR",
    }
    created = await client.post(
        "/backoffice/organizations", data={"csrf_token": _csrf(listing), **fields}
    )
    assert created.status_code == 303, created.text
    page = await client.get(created.headers["location"])
    assert "Organization created." in page.text and "École Exemple" in page.text
    organization_id = created.headers["location"].split("/")[-1].split("?")[0]
    organization = (await admin.get(f"/api/v1/admin/organizations/{organization_id}")).json()
    assert organization["code"] == code
    assert organization["signatories"][1] == {
        "name": "Karim Benali",
        "email": "karim@ecole.example",
    }
    assert organization["address"]["city"] == "Lyon" and organization["country"] == "FR"

    assert "Claire Martin &lt;claire@ecole.example&gt;" in page.text
    edited = fields | {"legal_name": "École Exemple SA", "vat_number": ""}
    saved = await client.post(
        f"/backoffice/organizations/{organization['id']}",
        data={"csrf_token": _csrf(page), **edited},
    )
    assert saved.status_code == 303
    now = (await admin.get(f"/api/v1/admin/organizations/{organization['id']}")).json()
    assert (now["legal_name"], now["vat_number"]) == ("École Exemple SA", None)

    for bad, said, status in (
        (fields | {"signatories": "no email here"}, "Not a signatory", 422),
        (fields, "code", 409),  # the code is taken now
    ):
        refused = await client.post(
            "/backoffice/organizations", data={"csrf_token": _csrf(listing), **bad}
        )
        assert refused.status_code == status, refused.text
        assert said in refused.text


async def test_a_product_is_created_with_its_tax_rate(browser) -> None:  # noqa: F811
    client = browser()
    await log_in(client, "admin")
    listing = await client.get("/backoffice/products")
    title = f"Parcours {uuid.uuid4().hex[:6]}"
    fields = {"type": "credential", "title": title, "price": "450.00", "currency": "EUR"}
    created = await client.post(
        "/backoffice/products",
        data={"csrf_token": _csrf(listing), **fields, "tax_rate": "0.2"},
    )
    assert created.status_code == 303, created.text
    page = await client.get(created.headers["location"])
    assert (title in page.text and 'value="0.2000"' in page.text) or 'value="0.20"' in page.text
    refused = await client.post(
        "/backoffice/products", data={"csrf_token": _csrf(listing), **fields, "tax_rate": "1.5"}
    )
    assert refused.status_code == 422 and "tax_rate" in refused.text
