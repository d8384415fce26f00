"""The back office's catalogue pages (spec 65): organizations with their
signatories and invoice fields, courses with their organizations, course runs
with dates typed in Paris time, products with their tax rate, offerings and
who sells them, created and edited as the JSON admin routes do, refusals
shown with their reason."""

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
    assert title in page.text
    assert 'value="0.2000"' in page.text or 'value="0.20"' in page.text
    refused = await client.post(
        "/backoffice/products", data={"csrf_token": _csrf(listing), **fields, "tax_rate": "1.5"}
    )
    assert refused.status_code == 422 and "tax_rate" in refused.text


async def _organization(admin: httpx.AsyncClient, title: str) -> dict:
    code = f"ORG-{uuid.uuid4().hex[:6].upper()}"
    created = await admin.post("/api/v1/admin/organizations", json={"code": code, "title": title})
    assert created.status_code == 201, created.text
    return created.json()


async def _with_two_organizations(browser, admin: httpx.AsyncClient):  # noqa: F811
    """A logged-in admin's browser, and two organizations to pick from."""
    client = browser()
    await log_in(client, "admin")
    return client, [await _organization(admin, name) for name in ("Lyon", "Nantes")]


def _created_id(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return response.headers["location"].split("/")[-1].split("?")[0]


async def test_a_course_is_created_with_the_organizations_ticked_and_edited(
    browser,  # noqa: F811
    admin: httpx.AsyncClient,
) -> None:
    client, (lyon, nantes) = await _with_two_organizations(browser, admin)
    listing = await client.get("/backoffice/courses")
    assert 'href="/backoffice/course-runs"' in listing.text
    assert f'value="{nantes["id"]}"' in listing.text  # offered as a box to tick
    code = f"PY-{uuid.uuid4().hex[:6].upper()}"
    fields = {"csrf_token": _csrf(listing), "code": code, "title": "Python, les bases"}
    created = await client.post(
        "/backoffice/courses", data={**fields, "organization_ids": [lyon["id"], nantes["id"]]}
    )
    course_id = _created_id(created)
    course = (await admin.get(f"/api/v1/admin/courses/{course_id}")).json()
    assert {item["id"] for item in course["organizations"]} == {lyon["id"], nantes["id"]}
    page = await client.get(created.headers["location"])
    assert "Course created." in page.text and page.text.count(" checked") == 2

    saved = await client.post(
        f"/backoffice/courses/{course_id}",
        data={**fields, "title": "Python, premiers pas", "organization_ids": [nantes["id"]]},
    )
    assert saved.status_code == 303, saved.text
    course = (await admin.get(f"/api/v1/admin/courses/{course_id}")).json()
    assert course["title"] == "Python, premiers pas"
    assert [item["id"] for item in course["organizations"]] == [nantes["id"]]

    refused = await client.post("/backoffice/courses", data=fields)  # the code is taken
    assert refused.status_code == 409 and code in refused.text
    # What was typed is still there to correct.
    assert 'value="Python, les bases"' in refused.text


async def test_a_course_run_takes_its_dates_in_paris_time(
    browser,  # noqa: F811
    admin: httpx.AsyncClient,
) -> None:
    client = browser()
    await log_in(client, "admin")
    code = f"RUN-{uuid.uuid4().hex[:6].upper()}"
    course = (
        await admin.post("/api/v1/admin/courses", json={"code": code, "title": "Sessions"})
    ).json()
    listing = await client.get("/backoffice/course-runs")
    fields = {
        "csrf_token": _csrf(listing),
        "course_id": course["id"],
        "title": "Printemps 2027",
        # Winter time (UTC+1), then summer time (UTC+2).
        "enrollment_start": "2027-01-04T09:00",
        "enrollment_end": "2027-03-28T23:59",
        "start": "2027-04-01T09:30",
        "end": "2027-06-30T18:00",
    }
    created = await client.post("/backoffice/course-runs", data=fields)
    run_id = _created_id(created)
    run = (await admin.get(f"/api/v1/admin/course-runs/{run_id}")).json()
    assert run["course_id"] == course["id"]
    assert run["enrollment_start"].startswith("2027-01-04T08:00:00")
    assert run["start"].startswith("2027-04-01T07:30:00")
    page = await client.get(created.headers["location"])
    # Shown as typed: Paris time.
    assert 'value="2027-04-01T09:30"' in page.text and code in page.text
    listing = await client.get("/backoffice/course-runs")
    assert "2027-04-01 09:30:00" in listing.text

    emptied = await client.post(
        f"/backoffice/course-runs/{run_id}", data={**fields, "enrollment_end": ""}
    )
    assert emptied.status_code == 303, emptied.text
    run = (await admin.get(f"/api/v1/admin/course-runs/{run_id}")).json()
    assert run["enrollment_end"] is None and run["end"].startswith("2027-06-30T16:00:00")

    for bad, said in (
        ({"end": "2027-03-01T09:00"}, "end must be after start"),
        ({"start": "next spring"}, "Not a date and time"),
        ({"course_id": ""}, "course_id"),
    ):
        refused = await client.post("/backoffice/course-runs", data={**fields, **bad})
        assert refused.status_code in {400, 422}, refused.text
        assert said in refused.text


async def test_an_offering_is_created_and_its_sellers_changed_from_the_pages(
    browser,  # noqa: F811
    admin: httpx.AsyncClient,
) -> None:
    client, (lyon, nantes) = await _with_two_organizations(browser, admin)
    course = (
        await admin.post(
            "/api/v1/admin/courses",
            json={"code": f"OF-{uuid.uuid4().hex[:6].upper()}", "title": "Offre"},
        )
    ).json()
    product = (
        await admin.post(
            "/api/v1/admin/products",
            json={"type": "credential", "title": f"Titre {uuid.uuid4().hex[:6]}", "price": "90.00"},
        )
    ).json()
    listing = await client.get("/backoffice/offerings")
    fields = {
        "csrf_token": _csrf(listing),
        "course_id": course["id"],
        "product_id": product["id"],
    }
    refused = await client.post("/backoffice/offerings", data=fields)  # nobody sells it
    assert refused.status_code == 422 and "organization_ids" in refused.text

    created = await client.post(
        "/backoffice/offerings", data={**fields, "organization_ids": [lyon["id"]]}
    )
    offering_id = _created_id(created)
    offering = (await admin.get(f"/api/v1/admin/offerings/{offering_id}")).json()
    assert [item["id"] for item in offering["organizations"]] == [lyon["id"]]
    page = await client.get(created.headers["location"])
    assert "Offering created." in page.text
    # The list's deep-link filter: it has none yet.
    code = course["code"]
    without = await client.get("/backoffice/offerings", params={"query": code, "links": "without"})
    assert f'href="/backoffice/offerings/{offering_id}"' in without.text
    with_links = await client.get("/backoffice/offerings", params={"query": code, "links": "with"})
    assert offering_id not in with_links.text and "No offering matches." in with_links.text

    again = await client.post(
        "/backoffice/offerings", data={**fields, "organization_ids": [lyon["id"]]}
    )
    assert again.status_code == 409, again.text

    saved = await client.post(
        f"/backoffice/offerings/{offering_id}/organizations",
        data={"csrf_token": _csrf(page), "organization_ids": [lyon["id"], nantes["id"]]},
    )
    assert saved.status_code == 303, saved.text
    offering = (await admin.get(f"/api/v1/admin/offerings/{offering_id}")).json()
    assert {item["id"] for item in offering["organizations"]} == {lyon["id"], nantes["id"]}
    none = await client.post(
        f"/backoffice/offerings/{offering_id}/organizations", data={"csrf_token": _csrf(page)}
    )
    assert none.status_code == 422 and "at least one organization" in none.text
    offering = (await admin.get(f"/api/v1/admin/offerings/{offering_id}")).json()
    assert len(offering["organizations"]) == 2
