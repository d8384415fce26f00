"""Who may call what (spec 60-quality), over every operation of /openapi.json:
admin routes refuse anonymous callers (401), learners (403) and staff of
another role (403); learner routes refuse anonymous callers (401) and never
show one learner another's objects (404). And over every page of the back
office: anonymous callers and learners (whose token the login refuses) are
sent to the login form, staff of another role get 403."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.app import create_app
from api.pages import academies as academy_pages
from api.pages import accounting as accounting_pages
from api.pages import deep_links as deep_link_pages
from api.pages import orders as order_pages
from api.pages import promo_codes as promo_code_pages
from models import promo_codes
from models.promo_codes import PromoCode
from tests.api.tunnel import CARD, contract_order
from tests.conftest import token_for
from tests.factories import Factory

ROLES = ("admin", "promo_manager", "accountant")
# The one role, besides admin, each family of admin routes lets through.
ROLE_OF_PREFIX = {
    "/api/v1/admin/accounting": "accountant",
    "/api/v1/admin/promo-campaigns": "promo_manager",
}
# Authenticated without an OpenAPI security scheme: the member site answers
# 401 in its own body shape (spec 50).
MEMBER_ROUTES = {("post", "/api/v2/carts/{cart_id}/promocodes/activate")}


@pytest.fixture
def settings(settings, temporal_env):
    return settings.model_copy(
        update={"temporal_address": temporal_env.client.service_client.config.target_host}
    )


@pytest.fixture
async def app(settings, worker, sessionmaker):
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _filled(path: str, operation: dict[str, Any]) -> str:
    """The path with a well-formed value in each parameter: the refusal must
    come from who calls, not from a malformed id."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "path":
            continue
        schema = parameter.get("schema", {})
        value = "1" if schema.get("type") == "integer" else str(uuid.uuid4())
        path = path.replace("{" + parameter["name"] + "}", value)
    return path


def _allowed_role(path: str) -> str | None:
    return next((role for prefix, role in ROLE_OF_PREFIX.items() if path.startswith(prefix)), None)


async def _call(client: httpx.AsyncClient, method: str, url: str) -> httpx.Response:
    return await client.request(method, url, json={} if method != "get" else None)


async def test_every_admin_route_refuses_anonymous_learners_and_other_roles(
    app, client_for
) -> None:
    anonymous, learner = await client_for(), await client_for(sub="matrix-learner")
    staff = {role: await client_for(sub=f"matrix-{role}", roles=[role]) for role in ROLES}
    document = (await anonymous.get("/openapi.json")).json()
    wrong: list[str] = []
    admin_routes = 0
    for method, path, operation in _operations(document):
        if not path.startswith("/api/v1/admin/"):
            continue
        admin_routes += 1
        url = _filled(path, operation)
        allowed = _allowed_role(path)
        expected = {"anonymous": (anonymous, 401), "learner": (learner, 403)} | {
            role: (staff[role], 403) for role in ROLES if role not in {"admin", allowed}
        }
        for who, (client, status) in expected.items():
            response = await _call(client, method, url)
            if response.status_code != status:
                wrong.append(
                    f"{method.upper()} {path} as {who}: {response.status_code}, not {status}"
                )
        for who in ("admin", allowed):
            if who is not None and (await _call(staff[who], method, url)).status_code in {401, 403}:
                wrong.append(f"{method.upper()} {path} refuses {who}")
    assert admin_routes >= 30  # the matrix really went over the admin API
    assert not wrong, "\n".join(wrong)


async def test_every_learner_route_refuses_anonymous_callers(app, client_for) -> None:
    anonymous = await client_for()
    document = (await anonymous.get("/openapi.json")).json()
    wrong, checked = [], 0
    for method, path, operation in _operations(document):
        is_learner_route = operation.get("security") or (method, path) in MEMBER_ROUTES
        if path.startswith("/api/v1/admin/") or not is_learner_route:
            continue
        checked += 1
        response = await _call(anonymous, method, _filled(path, operation))
        if response.status_code != 401:
            wrong.append(f"{method.upper()} {path}: {response.status_code}")
    assert checked >= 15
    assert not wrong, "\n".join(wrong)


async def _a_valid_code(sessionmaker, factory: Factory) -> str:
    campaign = await factory.campaign(name="Matrix", count=1)
    async with sessionmaker.begin() as session:
        await promo_codes.fill_batch(session=session, campaign_id=campaign.id, batch_size=1)
    async with sessionmaker() as session:
        return await session.scalar(select(PromoCode.code))


async def test_a_learner_never_sees_another_learners_objects(
    client_for, factory: Factory, sessionmaker
) -> None:
    alice, bob = await client_for(sub="alice"), await client_for(sub="bob")
    await bob.get("/api/v2/carts")  # Bob has a cart of his own
    code = await _a_valid_code(sessionmaker, factory)
    order = await contract_order(alice, factory)
    order_id = order["id"]
    contract = (await alice.get("/api/v1/contracts")).json()["results"][0]
    cart = (await alice.get("/api/v2/carts")).json()
    bobs_view = {
        "order": await bob.get(f"/api/v1/orders/{order_id}"),
        "invoices": await bob.get(f"/api/v1/orders/{order_id}/invoices"),
        "cancel": await bob.post(f"/api/v1/orders/{order_id}/cancel"),
        "payment method": await bob.post(f"/api/v1/orders/{order_id}/payment-method", json=CARD),
        "submit": await bob.post(f"/api/v1/orders/{order_id}/submit-for-signature"),
        "contract": await bob.get(f"/api/v1/contracts/{contract['id']}"),
        "signature state": await bob.get(f"/api/v1/contracts/{contract['id']}/signature-state"),
        "cart activation": await bob.post(
            f"/api/v2/carts/{cart['id']}/promocodes/activate", json={"promocode": code}
        ),
        "cart payment": await bob.post(f"/api/v2/checkouts/select-payment/{cart['id']}"),
    }
    assert {name: response.status_code for name, response in bobs_view.items()} == {
        name: 404 for name in bobs_view
    }
    # Nor in his lists.
    assert (await bob.get("/api/v1/orders")).json()["count"] == 0
    assert (await bob.get("/api/v1/contracts")).json()["count"] == 0
    assert (await bob.get("/api/v1/enrollments")).json()["count"] == 0
    # The code is still there for Alice; her order is untouched by his attempts.
    activated = await alice.post(
        f"/api/v2/carts/{cart['id']}/promocodes/activate", json={"promocode": code}
    )
    assert activated.status_code == 200, activated.text
    assert (await alice.get(f"/api/v1/orders/{order_id}")).json()["state"] == order["state"]


# --- the back office's pages ------------------------------------------------------------

PAGE_ROLE_OF_PREFIX = {
    "/backoffice/cash-book": "accountant",
    "/backoffice/promo-campaigns": "promo_manager",
}
OPEN_PAGES = {"/backoffice/login", "/backoffice/logout", "/backoffice/"}


def _pages() -> list[tuple[str, str]]:
    routers = (deep_link_pages, order_pages, promo_code_pages, accounting_pages, academy_pages)
    return [
        (method, route.path)
        for module in routers
        for route in module.router.routes
        for method in sorted(route.methods)
        if route.path not in OPEN_PAGES
    ]


def _page_url(path: str) -> str:
    url = re.sub(r"\{action\}", "cancel", path)
    return re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), url)


async def _browser_as(app, role: str | None) -> tuple[httpx.AsyncClient, str]:
    """A browser, logged in with `role` (None: a learner's token, refused), and
    the CSRF token of its session."""
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    form = await browser.get("/backoffice/login")
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text).group(1)  # type: ignore[union-attr]
    roles = [role] if role else []
    await browser.post(
        "/backoffice/login",
        data={"csrf_token": csrf, "token": token_for(sub=f"page-{role}", roles=roles)},
    )
    return browser, csrf


async def test_every_back_office_page_refuses_anonymous_learners_and_other_roles(app) -> None:
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    learner, learner_csrf = await _browser_as(app, None)
    staff = {role: await _browser_as(app, role) for role in ROLES}
    pages, wrong = _pages(), []
    for method, path in pages:
        url = _page_url(path)
        allowed = next((r for p, r in PAGE_ROLE_OF_PREFIX.items() if path.startswith(p)), None)
        for who, client, csrf in [
            ("anonymous", anonymous, ""),
            ("learner", learner, learner_csrf),
        ]:
            answer = await client.request(method, url, data={"csrf_token": csrf})
            sent_to_login = answer.status_code == 303 and answer.headers["location"].startswith(
                "/backoffice/login"
            )
            if not (sent_to_login or (method == "POST" and answer.status_code == 403)):
                wrong.append(f"{method} {path} as {who}: {answer.status_code}")
        for role in ROLES:
            if role in {"admin", allowed}:
                continue
            client, csrf = staff[role]
            answer = await client.request(method, url, data={"csrf_token": csrf})
            if answer.status_code != 403:
                wrong.append(f"{method} {path} as {role}: {answer.status_code}, not 403")
    assert len(pages) >= 20
    assert not wrong, "\n".join(wrong)
