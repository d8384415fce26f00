"""The public reads answered from the read cache before routing
(api/hot_reads.py): once a route has answered, the same request gets the
same answer (a deep link still drawn at random among the active ones), still
logged, counted under its route, given its CORS headers and, for the
catalogue, throttled; an admin write shows at once; nothing a route refused
is ever answered from the cache."""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter

import httpx
import pytest

from api.app import create_app
from models.academies import Academy, AcademyPrice
from tests.factories import Factory

ORIGIN = "https://learn.example.org"
ADMIN = "/api/v1/admin"
DEEP_LINK_ROUTE = "/api/v1/offerings/{offering_id}/deep-link"


@pytest.fixture
def settings(settings):
    # As in production: a cache with a long life, a learner site's origin.
    return settings.model_copy(
        update={
            "read_cache_seconds": 60.0,
            "cors_origins": [ORIGIN],
            "academy_rate_limit": "1000/day",
        }
    )


def _counted(metrics: str, route: str, status: int) -> float:
    pattern = (
        rf'guichet_http_requests_total\{{method="GET",route="{re.escape(route)}",'
        rf'status="{status}"\}} ([\d.e+]+)'
    )
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


async def test_a_held_deep_link_is_drawn_at_random_logged_counted_and_given_cors(
    anonymous: httpx.AsyncClient, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    organizations = [await factory.organization() for _ in range(3)]
    offering = await factory.offering(organizations=organizations)
    links = [f"https://www.moncompteformation.gouv.fr/formation/{uuid.uuid4()}" for _ in range(3)]
    for organization, link in zip(organizations, links, strict=True):
        await factory.deep_link(offering=offering, organization=organization, url=link)
    path = f"/api/v1/offerings/{offering.id}/deep-link"
    before = _counted((await anonymous.get("/metrics")).text, DEEP_LINK_ROUTE, 200)

    caplog.set_level(logging.INFO, logger="guichet.request")
    answers = [await anonymous.get(path, headers={"Origin": ORIGIN}) for _ in range(150)]

    assert {answer.status_code for answer in answers} == {200}
    served = Counter(answer.json()["deep_link"] for answer in answers)
    assert set(served) == set(links)
    # Uniform over 3: 50 each expected; under 15 would be a broken draw
    # (a false alarm's probability is below 1e-9).
    assert min(served.values()) >= 15
    assert all(answer.headers["access-control-allow-origin"] == ORIGIN for answer in answers)
    assert len({answer.headers["x-request-id"] for answer in answers}) == 150
    assert all(answer.headers["content-type"] == "application/json" for answer in answers)
    logged = [
        record
        for record in caplog.records
        if record.name == "guichet.request" and record.fields["path"] == path
    ]
    assert len(logged) == 150 and {record.fields["route"] for record in logged} == {DEEP_LINK_ROUTE}
    after = _counted((await anonymous.get("/metrics")).text, DEEP_LINK_ROUTE, 200)
    assert after - before == 150


async def test_an_admin_write_shows_at_once_and_refusals_are_never_held(
    anonymous: httpx.AsyncClient, admin: httpx.AsyncClient, factory: Factory
) -> None:
    organization = await factory.organization()
    offering = await factory.offering(organizations=[organization])
    path = f"/api/v1/offerings/{offering.id}/deep-link"
    for _ in range(3):
        assert (await anonymous.get(path)).json() == {"deep_link": None}
    link = "https://www.moncompteformation.gouv.fr/formation/hot"
    created = await admin.post(
        f"{ADMIN}/offerings/{offering.id}/deep-links",
        json={"organization_id": str(organization.id), "deep_link": link, "is_active": True},
    )
    assert created.status_code == 201, created.text
    assert (await anonymous.get(path)).json() == {"deep_link": link}
    # Another spelling of the id is the route's, and answers alike.
    assert (await anonymous.get(path.replace(str(offering.id), offering.id.hex))).json() == {
        "deep_link": link
    }

    unknown = f"/api/v1/offerings/{uuid.uuid4()}/deep-link"
    for _ in range(3):
        refused = await anonymous.get(unknown)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "offering_not_found"
    for _ in range(2):
        assert (await anonymous.get("/api/v1/offerings/not-a-uuid/deep-link")).status_code == 422


async def _academy(sessionmaker, tag: str) -> str:
    number = uuid.uuid4().hex[:8]
    async with sessionmaker.begin() as session:
        session.add(
            Academy(
                name=f"Academy {number}",
                tags=[tag],
                stripe_product_id=f"prod_{number}",
                stripe_price_lookup_key=f"academy-{number}",
                product_key=f"academy-{number}",
                slug=f"academy-{number}",
            )
        )
        session.add(
            AcademyPrice(
                lookup_key=f"academy-{number}",
                id=f"price_{number}",
                product=f"prod_{number}",
                currency="eur",
                unit_amount=2900,
                unit_amount_decimal="2900",
                recurring={"interval": "month", "interval_count": 1},
            )
        )
    return f"prod_{number}"


async def test_the_catalogue_answers_each_query_as_its_route_did(
    anonymous: httpx.AsyncClient, sessionmaker
) -> None:
    tag = f"hot-{uuid.uuid4().hex[:6]}"
    product = await _academy(sessionmaker, tag)
    first, again = [
        await anonymous.get("/api/v1/academy-products", params={"tag": tag}) for _ in range(2)
    ]
    assert first.status_code == again.status_code == 200
    assert first.content == again.content and first.json()["results"][0]["id"] == product
    assert again.headers["content-type"] == "application/json"
    other = await anonymous.get("/api/v1/academy-products", params={"tag": f"{tag}-other"})
    assert other.json()["count"] == 0
    for _ in range(2):
        bad = await anonymous.get("/api/v1/academy-products?include_inactive=maybe")
        assert bad.status_code == 422
        assert (await anonymous.get("/api/v1/academy-products?sync=true")).status_code == 400


async def test_the_throttle_counts_answers_from_the_cache(settings, sessionmaker) -> None:
    # A day, not a minute: see test_the_throttle_answers_429_with_retry_after.
    limited = create_app(settings.model_copy(update={"academy_rate_limit": "3/day"}))
    transport = httpx.ASGITransport(app=limited)
    async with (
        limited.router.lifespan_context(limited),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        answers = [await client.get("/api/v1/academy-products") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 2 * 86400
