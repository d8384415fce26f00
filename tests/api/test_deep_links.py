"""CPF deep links (spec 10): every rule and error code through the API."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest

from api.cache import ReadCache
from domain.catalog import ProductType
from tests.factories import Factory

ADMIN = "/api/v1/admin"
URL = "https://www.moncompteformation.gouv.fr/espace-prive/html/#/formation/recherche/1/2"


async def _credential_offering(factory: Factory, organizations: int = 2):
    orgs = [await factory.organization() for _ in range(organizations)]
    return await factory.offering(organizations=orgs), orgs


async def test_create_read_update_delete(admin: httpx.AsyncClient, factory: Factory) -> None:
    offering, (org, _) = await _credential_offering(factory)
    created = await admin.post(
        f"{ADMIN}/offerings/{offering.id}/deep-links",
        json={"organization_id": str(org.id), "deep_link": f"  {URL}  "},
    )
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["deep_link"] == URL
    assert link["is_active"] is False
    assert link["offering_id"] == str(offering.id)
    assert link["organization_id"] == str(org.id)

    assert (await admin.get(f"{ADMIN}/deep-links/{link['id']}")).json() == link
    listed = (await admin.get(f"{ADMIN}/offerings/{offering.id}/deep-links")).json()
    assert listed["count"] == 1
    assert listed["results"] == [link]

    patched = await admin.patch(
        f"{ADMIN}/deep-links/{link['id']}", json={"deep_link": URL + "/v2", "is_active": True}
    )
    assert patched.json()["deep_link"] == URL + "/v2"
    assert patched.json()["is_active"] is True

    await admin.patch(f"{ADMIN}/deep-links/{link['id']}", json={"is_active": False})
    assert (await admin.delete(f"{ADMIN}/deep-links/{link['id']}")).status_code == 204
    gone = await admin.get(f"{ADMIN}/deep-links/{link['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "deep_link_not_found"


async def test_only_credential_offerings(admin: httpx.AsyncClient, factory: Factory) -> None:
    for product_type in (ProductType.CERTIFICATE, ProductType.ENROLLMENT, ProductType.MEMBERSHIP):
        org = await factory.organization()
        offering = await factory.offering(product_type=product_type, organizations=[org])
        response = await admin.post(
            f"{ADMIN}/offerings/{offering.id}/deep-links",
            json={"organization_id": str(org.id), "deep_link": f"{URL}/{product_type}"},
        )
        assert response.status_code == 400, product_type
        assert response.json()["error"]["code"] == "offering_not_credential"


async def test_organization_must_sell_the_offering(
    admin: httpx.AsyncClient, factory: Factory
) -> None:
    offering, _ = await _credential_offering(factory)
    stranger = await factory.organization()
    for organization_id in (stranger.id, uuid.uuid4()):
        response = await admin.post(
            f"{ADMIN}/offerings/{offering.id}/deep-links",
            json={"organization_id": str(organization_id), "deep_link": URL},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "organization_not_in_offering"


async def test_one_link_per_organization_and_offering(
    admin: httpx.AsyncClient, factory: Factory
) -> None:
    offering, (org, _) = await _credential_offering(factory)
    await factory.deep_link(offering=offering, organization=org)
    response = await admin.post(
        f"{ADMIN}/offerings/{offering.id}/deep-links",
        json={"organization_id": str(org.id), "deep_link": URL + "/other"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "deep_link_exists"


async def test_url_is_unique_everywhere(admin: httpx.AsyncClient, factory: Factory) -> None:
    first, (first_org, second_org) = await _credential_offering(factory)
    other, (other_org,) = await _credential_offering(factory, organizations=1)
    await factory.deep_link(offering=first, organization=first_org, url=URL)
    for offering, org in ((first, second_org), (other, other_org)):
        response = await admin.post(
            f"{ADMIN}/offerings/{offering.id}/deep-links",
            json={"organization_id": str(org.id), "deep_link": URL},
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "deep_link_not_unique"
    # Changing a link to a URL in use elsewhere is refused the same way.
    second = await factory.deep_link(offering=other, organization=other_org)
    response = await admin.patch(f"{ADMIN}/deep-links/{second.id}", json={"deep_link": URL})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "deep_link_not_unique"


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://example.org/file",
        "javascript:alert(1)",
        "www.moncompteformation.gouv.fr/x",
        "https://",
        "https://exa mple.org/x",
        "",
        "https://example.org/" + "x" * 381,  # 401 characters
    ],
)
async def test_url_shape(admin: httpx.AsyncClient, factory: Factory, bad: str) -> None:
    offering, (org, _) = await _credential_offering(factory)
    response = await admin.post(
        f"{ADMIN}/offerings/{offering.id}/deep-links",
        json={"organization_id": str(org.id), "deep_link": bad},
    )
    assert response.status_code == 422, bad
    assert response.json()["error"]["details"][0]["loc"] == ["body", "deep_link"]


async def test_url_of_exactly_400_characters_is_accepted(
    admin: httpx.AsyncClient, factory: Factory
) -> None:
    offering, (org, _) = await _credential_offering(factory)
    url = "http://example.org/" + "x" * 381
    assert len(url) == 400
    response = await admin.post(
        f"{ADMIN}/offerings/{offering.id}/deep-links",
        json={"organization_id": str(org.id), "deep_link": url},
    )
    assert response.status_code == 201


async def test_active_link_cannot_be_deleted(admin: httpx.AsyncClient, factory: Factory) -> None:
    offering, (org, _) = await _credential_offering(factory)
    link = await factory.deep_link(offering=offering, organization=org, is_active=True)
    response = await admin.delete(f"{ADMIN}/deep-links/{link.id}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "deep_link_active"
    assert (await admin.get(f"{ADMIN}/deep-links/{link.id}")).status_code == 200


async def test_activate_and_deactivate_all(admin: httpx.AsyncClient, factory: Factory) -> None:
    offering, orgs = await _credential_offering(factory, organizations=3)
    for org in orgs:
        await factory.deep_link(offering=offering, organization=org, is_active=False)
    other, (other_org,) = await _credential_offering(factory, organizations=1)
    untouched = await factory.deep_link(offering=other, organization=other_org, is_active=False)

    on = await admin.patch(
        f"{ADMIN}/offerings/{offering.id}/activate-deep-links", json={"is_active": True}
    )
    assert on.status_code == 200
    assert [item["is_active"] for item in on.json()] == [True, True, True]
    assert (await admin.get(f"{ADMIN}/deep-links/{untouched.id}")).json()["is_active"] is False

    off = await admin.patch(
        f"{ADMIN}/offerings/{offering.id}/activate-deep-links", json={"is_active": False}
    )
    assert [item["is_active"] for item in off.json()] == [False, False, False]
    missing = await admin.patch(
        f"{ADMIN}/offerings/{uuid.uuid4()}/activate-deep-links", json={"is_active": True}
    )
    assert missing.status_code == 404


async def test_unknown_offering_and_link_are_404(admin: httpx.AsyncClient) -> None:
    unknown = uuid.uuid4()
    for method, path, body in (
        ("GET", f"{ADMIN}/offerings/{unknown}/deep-links", None),
        (
            "POST",
            f"{ADMIN}/offerings/{unknown}/deep-links",
            {"organization_id": str(uuid.uuid4()), "deep_link": URL},
        ),
        ("GET", f"{ADMIN}/deep-links/{unknown}", None),
        ("PATCH", f"{ADMIN}/deep-links/{unknown}", {"is_active": True}),
        ("DELETE", f"{ADMIN}/deep-links/{unknown}", None),
    ):
        response = await admin.request(method, path, json=body)
        assert response.status_code == 404, (method, path)


async def test_removing_an_organization_with_a_link_is_refused(
    admin: httpx.AsyncClient, factory: Factory
) -> None:
    offering, (linked, plain) = await _credential_offering(factory)
    await factory.deep_link(offering=offering, organization=linked, is_active=False)
    response = await admin.patch(
        f"{ADMIN}/offerings/{offering.id}", json={"organization_ids": [str(plain.id)]}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "organization_has_deep_link"
    kept = await admin.patch(
        f"{ADMIN}/offerings/{offering.id}", json={"organization_ids": [str(linked.id)]}
    )
    assert kept.status_code == 200


async def test_deleting_the_offering_or_organization_cascades(
    admin: httpx.AsyncClient, factory: Factory
) -> None:
    offering, (first, second) = await _credential_offering(factory)
    by_org = await factory.deep_link(offering=offering, organization=first, is_active=True)
    by_offering = await factory.deep_link(offering=offering, organization=second)
    assert (await admin.delete(f"{ADMIN}/organizations/{first.id}")).status_code == 204
    assert (await admin.get(f"{ADMIN}/deep-links/{by_org.id}")).status_code == 404
    assert (await admin.delete(f"{ADMIN}/offerings/{offering.id}")).status_code == 204
    assert (await admin.get(f"{ADMIN}/deep-links/{by_offering.id}")).status_code == 404


async def test_admin_routes_refuse_anonymous_and_learners(
    anonymous: httpx.AsyncClient, learner: httpx.AsyncClient, factory: Factory
) -> None:
    offering, (org, _) = await _credential_offering(factory)
    link = await factory.deep_link(offering=offering, organization=org)
    routes = [
        ("GET", f"{ADMIN}/offerings/{offering.id}/deep-links", None),
        (
            "POST",
            f"{ADMIN}/offerings/{offering.id}/deep-links",
            {"organization_id": str(org.id), "deep_link": URL},
        ),
        ("PATCH", f"{ADMIN}/offerings/{offering.id}/activate-deep-links", {"is_active": True}),
        ("GET", f"{ADMIN}/deep-links/{link.id}", None),
        ("PATCH", f"{ADMIN}/deep-links/{link.id}", {"is_active": True}),
        ("DELETE", f"{ADMIN}/deep-links/{link.id}", None),
    ]
    for method, path, body in routes:
        assert (await anonymous.request(method, path, json=body)).status_code == 401, path
        assert (await learner.request(method, path, json=body)).status_code == 403, path


# --- the client read ---------------------------------------------------------------


async def test_served_link_is_null_without_active_link(
    anonymous: httpx.AsyncClient, factory: Factory
) -> None:
    offering, (org, _) = await _credential_offering(factory)
    assert (await anonymous.get(f"/api/v1/offerings/{offering.id}/deep-link")).json() == {
        "deep_link": None
    }
    await factory.deep_link(offering=offering, organization=org, is_active=False)
    assert (await anonymous.get(f"/api/v1/offerings/{offering.id}/deep-link")).json() == {
        "deep_link": None
    }
    detail = (await anonymous.get(f"/api/v1/offerings/{offering.id}")).json()
    assert detail["deep_link"] is None


async def test_served_link_unknown_offering_is_404(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get(f"/api/v1/offerings/{uuid.uuid4()}/deep-link")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "offering_not_found"


async def test_served_links_are_the_active_ones_each_in_turn(
    anonymous: httpx.AsyncClient, factory: Factory
) -> None:
    offering, orgs = await _credential_offering(factory, organizations=4)
    active = [
        (await factory.deep_link(offering=offering, organization=org, is_active=True)).deep_link
        for org in orgs[:3]
    ]
    inactive = (
        await factory.deep_link(offering=offering, organization=orgs[3], is_active=False)
    ).deep_link
    # Another offering's active link must never leak into this one.
    other, (other_org,) = await _credential_offering(factory, organizations=1)
    foreign = (await factory.deep_link(offering=other, organization=other_org)).deep_link

    served = Counter()
    for _ in range(150):
        body = (await anonymous.get(f"/api/v1/offerings/{offering.id}/deep-link")).json()
        served[body["deep_link"]] += 1
    assert set(served) == set(active)
    assert inactive not in served
    assert foreign not in served
    # Uniform over 3 links: each is expected 50 times; below 15 would be a
    # broken choice (probability of a false alarm < 1e-9).
    assert min(served.values()) >= 15

    details = {
        (await anonymous.get(f"/api/v1/offerings/{offering.id}")).json()["deep_link"]
        for _ in range(60)
    }
    assert details == set(active)
    listed = (await anonymous.get("/api/v1/offerings")).json()["results"]
    by_id = {item["id"]: item["deep_link"] for item in listed}
    assert by_id[str(offering.id)] in active
    assert by_id[str(other.id)] == foreign


async def test_cached_links_follow_admin_writes_at_once(
    app, admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, factory: Factory
) -> None:
    app.state.read_cache = ReadCache(60.0)  # as in production, with a long life
    offering, (first, second) = await _credential_offering(factory)
    served = f"/api/v1/offerings/{offering.id}/deep-link"
    assert (await anonymous.get(served)).json() == {"deep_link": None}  # now cached
    created = await admin.post(
        f"{ADMIN}/offerings/{offering.id}/deep-links",
        json={"organization_id": str(first.id), "deep_link": URL, "is_active": True},
    )
    assert created.status_code == 201
    assert (await anonymous.get(served)).json() == {"deep_link": URL}
    toggled = await admin.patch(
        f"{ADMIN}/offerings/{offering.id}/activate-deep-links", json={"is_active": False}
    )
    assert toggled.status_code == 200
    assert (await anonymous.get(served)).json() == {"deep_link": None}

    # A write this process did not make (another replica, a script) is not
    # seen before the entry expires: the documented bound of the cache.
    await factory.deep_link(offering=offering, organization=second, is_active=True)
    assert (await anonymous.get(served)).json() == {"deep_link": None}


async def test_the_admin_offerings_list_filters_by_text_and_by_deep_links(
    admin: httpx.AsyncClient, factory: Factory
) -> None:
    """Spec 55: `query` and `has_deep_links` on the admin list; a misspelt
    filter is a 422 naming it, not every offering."""
    tag = uuid.uuid4().hex[:8]
    linked, (org, _) = await _credential_offering(factory)
    await factory.deep_link(offering=linked, organization=org, is_active=False)
    bare, _ = await _credential_offering(factory)
    for offering in (linked, bare):
        renamed = await admin.patch(
            f"{ADMIN}/courses/{offering.course_id}", json={"title": f"Parcours {tag}"}
        )
        assert renamed.status_code == 200, renamed.text

    async def found(**params: str) -> set[str]:
        answer = await admin.get(f"{ADMIN}/offerings", params={"query": tag, **params})
        assert answer.status_code == 200, answer.text
        return {item["id"] for item in answer.json()["results"]}

    assert await found() == {str(linked.id), str(bare.id)}
    # With a link, active or not; without any.
    assert await found(has_deep_links="true") == {str(linked.id)}
    assert await found(has_deep_links="false") == {str(bare.id)}
    misspelt = await admin.get(f"{ADMIN}/offerings", params={"has_links": "true"})
    assert misspelt.status_code == 422
    assert misspelt.json()["error"]["code"] == "unknown_query_parameter"
