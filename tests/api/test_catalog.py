"""Admin CRUD of the catalogue and the public offering search."""

from __future__ import annotations

import uuid

import httpx
import pytest

from domain.catalog import ProductType
from tests.factories import Factory

ADMIN = "/api/v1/admin"
UNKNOWN = str(uuid.uuid4())


async def _create(admin: httpx.AsyncClient, path: str, body: dict) -> dict:
    response = await admin.post(f"{ADMIN}/{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_organization_lifecycle(admin: httpx.AsyncClient) -> None:
    created = await _create(
        admin,
        "organizations",
        {
            "code": "UNIV-1",
            "title": "Université",
            "country": "fr",
            "signatories": [{"name": "Ana", "email": "ana@univ.example"}],
        },
    )
    uuid.UUID(created["id"])
    assert created["country"] == "FR"
    assert created["signatories"] == [{"name": "Ana", "email": "ana@univ.example"}]

    patched = await admin.patch(f"{ADMIN}/organizations/{created['id']}", json={"title": "Univ"})
    assert patched.json()["title"] == "Univ"
    assert patched.json()["code"] == "UNIV-1"
    assert (await admin.get(f"{ADMIN}/organizations/{created['id']}")).json()["title"] == "Univ"

    assert (await admin.delete(f"{ADMIN}/organizations/{created['id']}")).status_code == 204
    missing = await admin.get(f"{ADMIN}/organizations/{created['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "organization_not_found"


async def test_organization_code_is_unique(admin: httpx.AsyncClient, factory: Factory) -> None:
    existing = await factory.organization(code="TAKEN")
    other = await factory.organization()
    response = await admin.post(f"{ADMIN}/organizations", json={"code": "TAKEN", "title": "X"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "organization_code_exists"
    renamed = await admin.patch(f"{ADMIN}/organizations/{other.id}", json={"code": "TAKEN"})
    assert renamed.status_code == 409
    # Saving an organization under its own code is no conflict.
    same = await admin.patch(f"{ADMIN}/organizations/{existing.id}", json={"code": "TAKEN"})
    assert same.status_code == 200


async def test_course_with_organizations(admin: httpx.AsyncClient, factory: Factory) -> None:
    first, second = await factory.organization(), await factory.organization()
    course = await _create(
        admin, "courses", {"code": "PY-1", "title": "Python", "organization_ids": [str(first.id)]}
    )
    assert [item["id"] for item in course["organizations"]] == [str(first.id)]
    patched = await admin.patch(
        f"{ADMIN}/courses/{course['id']}", json={"organization_ids": [str(second.id)]}
    )
    assert [item["id"] for item in patched.json()["organizations"]] == [str(second.id)]
    unknown = await admin.post(
        f"{ADMIN}/courses", json={"code": "PY-2", "title": "P", "organization_ids": [UNKNOWN]}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "organization_not_found"
    assert unknown.json()["error"]["details"] == {"ids": [UNKNOWN]}
    duplicate = await admin.post(f"{ADMIN}/courses", json={"code": "PY-1", "title": "Again"})
    assert duplicate.json()["error"]["code"] == "course_code_exists"


async def test_course_run_dates(admin: httpx.AsyncClient, factory: Factory) -> None:
    course = await factory.course()
    run = await _create(
        admin,
        "course-runs",
        {
            "course_id": str(course.id),
            "title": "Spring",
            "start": "2027-03-01T09:00:00+01:00",
            "end": "2027-06-30T17:00:00Z",
        },
    )
    assert run["start"] == "2027-03-01T08:00:00Z"
    assert run["enrollment_start"] is None
    backwards = await admin.post(
        f"{ADMIN}/course-runs",
        json={
            "course_id": str(course.id),
            "title": "Bad",
            "start": "2027-06-01T00:00:00Z",
            "end": "2027-03-01T00:00:00Z",
        },
    )
    assert backwards.status_code == 400
    assert backwards.json()["error"]["code"] == "invalid_course_run_dates"
    patch_backwards = await admin.patch(
        f"{ADMIN}/course-runs/{run['id']}", json={"end": "2027-01-01T00:00:00Z"}
    )
    assert patch_backwards.json()["error"]["code"] == "invalid_course_run_dates"
    orphan = await admin.post(f"{ADMIN}/course-runs", json={"course_id": UNKNOWN, "title": "X"})
    assert orphan.json()["error"]["code"] == "course_not_found"


async def test_product_money_and_targets(admin: httpx.AsyncClient, factory: Factory) -> None:
    run = await factory.course_run()
    product = await _create(
        admin,
        "products",
        {
            "type": "credential",
            "title": "Certificat",
            "price": "450.5",
            "contract_required": True,
            "target_course_run_ids": [str(run.id)],
        },
    )
    assert product["price"] == "450.50"
    assert product["currency"] == "EUR"
    assert product["contract_required"] is True
    assert [item["id"] for item in product["target_course_runs"]] == [str(run.id)]

    patched = await admin.patch(f"{ADMIN}/products/{product['id']}", json={"price": "99.99"})
    assert patched.json()["price"] == "99.99"
    fetched = await admin.get(f"{ADMIN}/products/{product['id']}")
    assert fetched.json()["price"] == "99.99"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"price": "10.001"}, 422, "validation_error"),
        ({"price": "-1.00"}, 422, "validation_error"),
        ({"price": "abc"}, 422, "validation_error"),
        ({"currency": "EURO"}, 422, "validation_error"),
        ({"type": "voucher"}, 422, "validation_error"),
        (
            {"type": "certificate", "target_course_run_ids": ["RUN"]},
            400,
            "target_course_runs_not_allowed",
        ),
        ({"target_course_run_ids": [UNKNOWN]}, 404, "course_run_not_found"),
    ],
)
async def test_product_bad_input(
    admin: httpx.AsyncClient, factory: Factory, body: dict, status: int, code: str
) -> None:
    run = await factory.course_run()
    payload = {"type": "credential", "title": "P", "price": "10.00"} | body
    if payload.get("target_course_run_ids") == ["RUN"]:
        payload["target_course_run_ids"] = [str(run.id)]
    response = await admin.post(f"{ADMIN}/products", json=payload)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_product_type_cannot_change(admin: httpx.AsyncClient, factory: Factory) -> None:
    product = await factory.product()
    response = await admin.patch(f"{ADMIN}/products/{product.id}", json={"type": "certificate"})
    assert response.status_code == 422


async def test_offering_lifecycle(admin: httpx.AsyncClient, factory: Factory) -> None:
    first, second = await factory.organization(), await factory.organization()
    course = await factory.course(organizations=[first, second])
    product = await factory.product(type=ProductType.CREDENTIAL, price="1200.00")
    offering = await _create(
        admin,
        "offerings",
        {
            "course_id": str(course.id),
            "product_id": str(product.id),
            "organization_ids": [str(first.id)],
        },
    )
    assert offering["course"]["code"] == course.code
    assert offering["product"]["price"] == "1200.00"
    assert offering["deep_link"] is None

    again = await admin.post(
        f"{ADMIN}/offerings",
        json={
            "course_id": str(course.id),
            "product_id": str(product.id),
            "organization_ids": [str(second.id)],
        },
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "offering_exists"

    patched = await admin.patch(
        f"{ADMIN}/offerings/{offering['id']}",
        json={"organization_ids": [str(first.id), str(second.id)]},
    )
    assert {item["id"] for item in patched.json()["organizations"]} == {
        str(first.id),
        str(second.id),
    }
    listed = (await admin.get(f"{ADMIN}/offerings")).json()
    assert listed["count"] == 1
    assert (await admin.delete(f"{ADMIN}/offerings/{offering['id']}")).status_code == 204
    assert (await admin.get(f"{ADMIN}/offerings/{offering['id']}")).status_code == 404


async def test_offering_needs_an_organization(admin: httpx.AsyncClient, factory: Factory) -> None:
    course, product = await factory.course(), await factory.product()
    response = await admin.post(
        f"{ADMIN}/offerings",
        json={"course_id": str(course.id), "product_id": str(product.id), "organization_ids": []},
    )
    assert response.status_code == 422


async def test_delete_refused_while_used(admin: httpx.AsyncClient, factory: Factory) -> None:
    offering = await factory.offering()
    for path, id in (("products", offering.product_id), ("courses", offering.course_id)):
        response = await admin.delete(f"{ADMIN}/{path}/{id}")
        assert response.status_code == 409, path
        assert response.json()["error"]["code"] == "in_use"
    assert (await admin.get(f"{ADMIN}/products/{offering.product_id}")).status_code == 200


async def test_admin_reads_of_every_object(admin: httpx.AsyncClient, factory: Factory) -> None:
    run = await factory.course_run()
    offering = await factory.offering()
    for path, id in (
        ("organizations", offering.organizations[0].id),
        ("courses", offering.course_id),
        ("course-runs", run.id),
        ("products", offering.product_id),
        ("offerings", offering.id),
    ):
        listed = await admin.get(f"{ADMIN}/{path}")
        assert listed.status_code == 200, path
        assert str(id) in {item["id"] for item in listed.json()["results"]}, path
        assert (await admin.get(f"{ADMIN}/{path}/{id}")).json()["id"] == str(id)
        missing = await admin.get(f"{ADMIN}/{path}/{UNKNOWN}")
        assert missing.status_code == 404, path
        assert missing.json()["error"]["code"].endswith("_not_found")


# --- public search -----------------------------------------------------------------


async def test_public_search_filters(anonymous: httpx.AsyncClient, factory: Factory) -> None:
    python = await factory.course(code="PY-101", title="Python pour la data")
    web = await factory.course(code="WEB-201", title="Développement web")
    credential = await factory.product(type=ProductType.CREDENTIAL, title="Certificat avancé")
    certificate = await factory.product(type=ProductType.CERTIFICATE, title="Attestation")
    await factory.offering(course=python, product=credential)
    await factory.offering(course=python, product=certificate)
    await factory.offering(course=web, product=certificate)

    async def titles(**params: str) -> list[tuple[str, str]]:
        page = (await anonymous.get("/api/v1/offerings", params=params)).json()
        return sorted(
            (item["course"]["code"], item["product"]["title"]) for item in page["results"]
        )

    assert len(await titles()) == 3
    assert await titles(query="PYTHON") == [
        ("PY-101", "Attestation"),
        ("PY-101", "Certificat avancé"),
    ]
    assert await titles(query="avancé") == [("PY-101", "Certificat avancé")]
    assert await titles(query="web-2") == [("WEB-201", "Attestation")]
    assert await titles(course_code="WEB-201") == [("WEB-201", "Attestation")]
    assert await titles(product_type="credential") == [("PY-101", "Certificat avancé")]
    assert await titles(query="python", product_type="certificate") == [("PY-101", "Attestation")]
    # LIKE wildcards in the query are literal characters, not patterns.
    assert await titles(query="%") == []
    assert await titles(query="_") == []
    bad_type = await anonymous.get("/api/v1/offerings", params={"product_type": "voucher"})
    assert bad_type.status_code == 422


async def test_public_read_of_one_offering(anonymous: httpx.AsyncClient, factory: Factory) -> None:
    offering = await factory.offering()
    response = await anonymous.get(f"/api/v1/offerings/{offering.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(offering.id)
    assert body["product"]["type"] == "credential"
    assert body["deep_link"] is None
    missing = await anonymous.get(f"/api/v1/offerings/{UNKNOWN}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "offering_not_found"
    malformed = await anonymous.get("/api/v1/offerings/not-a-uuid")
    assert malformed.status_code == 422
