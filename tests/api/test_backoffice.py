"""The back office over HTTP, as a browser uses it: login by token into an
HttpOnly cookie, CSRF on every form, role-aware menu and 403s, the offering
page's deep-link management, promo campaigns and the cash book (spec 70)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from api.pages.access import CSRF_COOKIE, SESSION_COOKIE
from domain.catalog import ProductType
from tests.api.test_installments import _paid_order, _until
from tests.api.test_orders import _create, _offering
from tests.api.test_promo_codes import (  # noqa: F401 - app and settings: with a worker
    activate,
    app,
    cart_of,
    codes_of,
    create_campaign,
    settings,
    until_status,
)
from tests.api.tunnel import ADDRESS
from tests.conftest import token_for
from tests.factories import Factory

LINK = "https://www.moncompteformation.gouv.fr/espace-prive/html/#/formation/recherche/{}"


@pytest.fixture
def browser(app):  # noqa: F811 - the fixture imported above
    """A cookie-keeping client, as a browser (not logged in)."""

    def make() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", follow_redirects=False
        )

    return make


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def log_in(client: httpx.AsyncClient, *roles: str, sub: str = "staff-1") -> httpx.Response:
    form = await client.get("/backoffice/login")
    return await client.post(
        "/backoffice/login",
        data={"csrf_token": _csrf(form), "token": token_for(sub=sub, roles=list(roles))},
    )


async def test_login_sets_an_httponly_strict_cookie_and_logout_clears_it(browser) -> None:
    client = browser()
    assert (await client.get("/backoffice/")).headers["location"] == "/backoffice/login"
    page = await client.get("/backoffice/offerings")
    assert page.status_code == 303
    assert page.headers["location"] == "/backoffice/login?next=/backoffice/offerings"
    form = await client.get("/backoffice/login")
    assert form.status_code == 200 and '<label for="token">' in form.text
    assert "httponly" in form.headers["set-cookie"].lower()

    wrong = await client.post(
        "/backoffice/login", data={"csrf_token": _csrf(form), "token": "not-a-token"}
    )
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text
    learner = await client.post(
        "/backoffice/login",
        data={"csrf_token": _csrf(form), "token": token_for(sub="l", roles=[])},
    )
    assert learner.status_code == 401 and "no access to the back office" in learner.text

    logged = await client.post(
        "/backoffice/login",
        data={
            "csrf_token": _csrf(form),
            "token": token_for(sub="staff-1", roles=["admin"]),
            "next": "/backoffice/offerings",
        },
    )
    assert (logged.status_code, logged.headers["location"]) == (303, "/backoffice/offerings")
    cookie = logged.headers["set-cookie"].lower()
    assert cookie.startswith(SESSION_COOKIE) and "httponly" in cookie
    assert "samesite=strict" in cookie and "path=/backoffice" in cookie
    offerings = await client.get("/backoffice/offerings")
    assert offerings.status_code == 200 and "<h1>Offerings</h1>" in offerings.text

    out = await client.post("/backoffice/logout", data={"csrf_token": _csrf(offerings)})
    assert out.headers["location"] == "/backoffice/login"
    assert (await client.get("/backoffice/offerings")).status_code == 303


async def test_next_never_leaves_the_back_office(browser) -> None:
    client = browser()
    for elsewhere in ["https://evil.example", "//evil.example/x", "/api/v1/admin/orders"]:
        # Each time a new form: once logged in, its token is bound to the session.
        form = await client.get("/backoffice/login")
        answer = await client.post(
            "/backoffice/login",
            data={
                "csrf_token": _csrf(form),
                "token": token_for(sub="s", roles=["admin"]),
                "next": elsewhere,
            },
        )
        assert answer.headers["location"] == "/backoffice/", elsewhere


async def test_a_post_without_its_csrf_token_is_refused(browser, factory: Factory) -> None:
    client = browser()
    await log_in(client, "admin")
    offering = await factory.offering()
    path = f"/backoffice/offerings/{offering.id}/deep-links/activation"
    for data in [{"is_active": "true"}, {"is_active": "true", "csrf_token": "0" * 64}]:
        answer = await client.post(path, data=data)
        assert answer.status_code == 403, data
    # Another browser's token is not this one's.
    other = browser()
    token = _csrf(await other.get("/backoffice/login"))
    assert (
        await client.post(path, data={"is_active": "true", "csrf_token": token})
    ).status_code == 403
    # Nor can a login be forced on a browser that never saw the form.
    fresh = browser()
    forced = await fresh.post(
        "/backoffice/login",
        data={"csrf_token": token, "token": token_for(sub="x", roles=["admin"])},
    )
    assert forced.status_code == 403


@pytest.mark.parametrize(
    ("roles", "menu", "offerings"),
    [
        (
            ("admin",),
            [
                "Offerings",
                "Courses",
                "Course runs",
                "Products",
                "Organizations",
                "Orders",
                "Payment issues",
                "Vouchers",
                "Promo campaigns",
                "Cash book",
                "Academies",
            ],
            200,
        ),
        (("promo_manager",), ["Promo campaigns"], 403),
        (("accountant",), ["Cash book"], 403),
    ],
)
async def test_the_menu_shows_only_the_pages_a_role_may_see(
    browser, roles: tuple[str, ...], menu: list[str], offerings: int
) -> None:
    client = browser()
    await log_in(client, *roles)
    home = await client.get("/backoffice/")
    page = await client.get(home.headers["location"])
    assert (
        re.findall(r'<li><a href="[^"]+"(?: aria-current="page")?>([^<]+)</a></li>', page.text)
        == menu
    )
    answer = await client.get("/backoffice/offerings")
    assert answer.status_code == offerings
    if offerings == 403:
        assert "Not allowed" in answer.text


async def test_deep_links_are_managed_from_the_offering_page(
    browser, factory: Factory, anonymous: httpx.AsyncClient
) -> None:
    first, second = (
        await factory.organization(title="Lyon"),
        await factory.organization(title="Nice"),
    )
    course = await factory.course(organizations=[first, second], title="Python")
    product = await factory.product(title="Certificat Python")
    offering = await factory.offering(course=course, product=product, organizations=[first, second])
    client = browser()
    await log_in(client, "admin")

    listed = await client.get("/backoffice/offerings", params={"query": "certificat"})
    assert f'href="/backoffice/offerings/{offering.id}"' in listed.text
    none = await client.get("/backoffice/offerings", params={"query": "nothing-like-it"})
    assert "No offering matches." in none.text

    path = f"/backoffice/offerings/{offering.id}"
    page = await client.get(path)
    assert "No deep link yet." in page.text and '<label for="deep_link">' in page.text
    added = await client.post(
        f"{path}/deep-links",
        data={
            "csrf_token": _csrf(page),
            "organization_id": str(first.id),
            "deep_link": LINK.format(1),
        },
    )
    assert added.status_code == 303
    page = await client.get(added.headers["location"])
    assert "Deep link added." in page.text and "Inactive" in page.text
    (link_id,) = re.findall(rf'action="{path}/deep-links/([0-9a-f-]+)"', page.text)[:1]
    served = f"/api/v1/offerings/{offering.id}/deep-link"
    assert (await anonymous.get(served)).json()["deep_link"] is None

    def act(action: str, **fields: str) -> dict:
        return {"csrf_token": _csrf(page), "action": action, **fields}

    await client.post(f"{path}/deep-links/{link_id}", data=act("toggle"))
    assert (await anonymous.get(served)).json()["deep_link"] == LINK.format(1)
    refused = await client.post(f"{path}/deep-links/{link_id}", data=act("delete"))
    assert refused.status_code == 409
    assert "An active deep link cannot be deleted; deactivate it first." in refused.text

    taken = await client.post(
        f"{path}/deep-links",
        data={
            "csrf_token": _csrf(page),
            "organization_id": str(second.id),
            "deep_link": LINK.format(1),
        },
    )
    assert taken.status_code == 409 and "already used" in taken.text
    saved = await client.post(
        f"{path}/deep-links/{link_id}", data=act("save", deep_link=LINK.format(2))
    )
    assert saved.status_code == 303
    assert (await anonymous.get(served)).json()["deep_link"] == LINK.format(2)

    off = await client.post(
        f"{path}/deep-links/activation", data={"csrf_token": _csrf(page), "is_active": "false"}
    )
    assert "Every deep link deactivated." in (await client.get(off.headers["location"])).text
    assert (await anonymous.get(served)).json()["deep_link"] is None
    gone = await client.post(f"{path}/deep-links/{link_id}", data=act("delete"))
    assert "Deep link deleted." in (await client.get(gone.headers["location"])).text
    assert "No deep link yet." in (await client.get(path)).text


async def test_a_campaign_is_created_followed_and_downloaded_from_its_pages(
    browser, factory: Factory, client_for
) -> None:
    membership = await factory.product(type=ProductType.MEMBERSHIP, price="9.00", title="Adhésion")
    client = browser()
    await log_in(client, "promo_manager")
    page = await client.get("/backoffice/promo-campaigns")
    assert "No campaign yet." in page.text and "Adhésion (9.00 EUR)" in page.text
    form = {
        "csrf_token": _csrf(page),
        "name": "Salon 2026",
        "valid_until": "2099-12-31",
        "count": "12",
        "product_id": str(membership.id),
        "code_length": "8",
        "alphabet": "crockford",
        "check_character": "on",
    }
    too_many = await client.post("/backoffice/promo-campaigns", data=form | {"count": "501"})
    assert too_many.status_code == 422 and "at most 500 codes" in too_many.text
    assert 'value="Salon 2026"' in too_many.text  # the form keeps what was typed
    bad_date = await client.post(
        "/backoffice/promo-campaigns", data=form | {"valid_until": "31/12/2099"}
    )
    assert bad_date.status_code == 422 and 'role="alert"' in bad_date.text
    created = await client.post("/backoffice/promo-campaigns", data=form)
    assert created.status_code == 303
    detail_path = created.headers["location"]
    for _ in range(100):
        detail = await client.get(detail_path)
        if "chip ok" in detail.text:
            break
        assert 'hx-trigger="every 1s"' in detail.text  # polls its status while generating
        assert '<noscript><meta http-equiv="refresh"' in detail.text  # or reloads, without JS
        await asyncio.sleep(0.1)
    assert "Codes generated: 12 of 12" in detail.text and "hx-trigger" not in detail.text
    status = await client.get(f"{detail_path}/status")
    assert status.text.lstrip().startswith("<div") and "campaign-status" in status.text
    assert status.headers["hx-refresh"] == "true" and "<html" not in status.text
    codes = re.findall(r'<td data-label="Code" class="mono">([^<]+)</td>', detail.text)
    assert len(codes) == 12 and all(code.startswith("GUICHET-SALON2026-") for code in codes)

    student = await client_for(sub="student-9")
    assert (await activate(student, (await cart_of(student))["id"], codes[3])).status_code == 200
    used = await client.get(detail_path, params={"used": "true"})
    assert re.findall(r'class="mono">([^<]+)<', used.text) == [codes[3]]
    assert "student-9@example.org" in used.text
    unused = await client.get(detail_path, params={"used": "false"})
    assert len(re.findall(r'class="mono">', unused.text)) == 11
    # A lost card: its code revoked, then restored, from the page.
    lost, csrf = codes[5], {"csrf_token": _csrf(detail)}
    assert f'aria-label="Revoke {lost}"' in detail.text
    revoked = await client.post(f"{detail_path}/codes/{lost}/revoke", data=csrf)
    assert revoked.status_code == 303, revoked.text
    page = await client.get(revoked.headers["location"])
    assert f"{lost} revoked." in page.text and f'aria-label="Restore {lost}"' in page.text
    finder = await client_for(sub="finder-9")
    assert (await activate(finder, (await cart_of(finder))["id"], lost)).status_code == 400
    refused = await client.post(f"{detail_path}/codes/{codes[3]}/revoke", data=csrf)
    assert refused.status_code == 409 and "is used" in refused.text
    restored = await client.post(f"{detail_path}/codes/{lost}/restore", data=csrf)
    assert restored.status_code == 303
    assert (await activate(finder, (await cart_of(finder))["id"], lost)).status_code == 200
    listed = await client.get("/backoffice/promo-campaigns")
    assert re.search(
        r'Salon 2026</a></td>\s*<td data-label="Codes">12</td>\s*<td data-label="Used">2</td>',
        listed.text,
    )

    download = await client.get(f"{detail_path}/codes.csv")
    assert download.headers["content-type"].startswith("text/csv")
    assert download.text.count("\n") == 13 and "student-9@example.org" in download.text
    assert (await client.post("/backoffice/promo-campaigns", data=form)).status_code == 409
    # Another format, chosen on the page: three digits, no check character.
    numeric = form | {"name": "Salon chiffres", "alphabet": "digits", "code_length": "3"}
    del numeric["check_character"]
    made = await client.post("/backoffice/promo-campaigns", data=numeric)
    assert made.status_code == 303, made.text
    for _ in range(100):
        page = await client.get(made.headers["location"])
        if "Codes generated: 12 of 12" in page.text and "chip ok" in page.text:
            break
        await asyncio.sleep(0.1)
    printed = re.findall(r'<td data-label="Code" class="mono">([^<]+)</td>', page.text)
    assert len(printed) == 12
    assert all(re.fullmatch(r"GUICHET-SALONCHIFFRES-\d{3}", code) for code in printed)

    # Its life after launch, from the page: the end date moved then removed,
    # disabled and enabled, more codes drawn.
    change = f"{detail_path}/change"
    moved = await client.post(change, data=csrf | {"action": "dates", "valid_until": "2100-06-30"})
    assert moved.status_code == 303, moved.text
    page = await client.get(moved.headers["location"])
    assert "End date saved." in page.text and "2100-06-30 23:59 UTC" in page.text
    endless = await client.post(change, data=csrf | {"action": "dates", "valid_until": ""})
    assert "never expires" in (await client.get(endless.headers["location"])).text
    past = await client.post(change, data=csrf | {"action": "dates", "valid_until": "2001-01-01"})
    assert past.status_code == 422 and "in the future" in past.text
    disabled = await client.post(change, data=csrf | {"action": "disable"})
    page = await client.get(disabled.headers["location"])
    assert "disabled: its codes answer Invalid code" in page.text
    assert (await activate(finder, (await cart_of(finder))["id"], codes[7])).status_code == 400
    await client.post(change, data=csrf | {"action": "enable"})
    assert (await activate(finder, (await cart_of(finder))["id"], codes[7])).status_code == 200
    more = await client.post(f"{detail_path}/more-codes", data=csrf | {"count": "3"})
    assert more.status_code == 303, more.text
    for _ in range(100):
        detail = await client.get(detail_path)
        if "Codes generated: 15 of 15" in detail.text and "chip ok" in detail.text:
            break
        await asyncio.sleep(0.1)
    assert "Codes generated: 15 of 15" in detail.text
    none = await client.post(f"{detail_path}/more-codes", data=csrf | {"count": "zero"})
    assert none.status_code == 422 and "Give a number of codes" in none.text
    # Codes printed elsewhere, uploaded: a bad line imports nothing and is named.
    bad = {"file": ("codes.csv", b"code\nSALON-A-1\nSALON A 2 !\n", "text/csv")}
    refused = await client.post(f"{detail_path}/import", data=csrf, files=bad)
    assert refused.status_code == 422 and "line 3: only letters" in refused.text
    good = {"file": ("codes.csv", b"code\nSALON-A-1\nSALON-A-2\n", "text/csv")}
    imported = await client.post(f"{detail_path}/import", data=csrf, files=good)
    assert imported.status_code == 303, imported.text
    page = await client.get(imported.headers["location"])
    assert "2 codes imported." in page.text and "Codes generated: 17 of 17" in page.text


async def test_the_cash_book_page_shows_entries_and_totals(browser, factory, client_for) -> None:
    membership = await factory.product(type=ProductType.MEMBERSHIP, price="9.00")
    manager = await client_for(sub="m", roles=["promo_manager"])
    campaign = await create_campaign(manager, membership, name="Rentrée", count=2)
    await until_status(manager, campaign, "ready")
    student = await client_for(sub="student-3")
    cart = (await cart_of(student))["id"]
    await activate(student, cart, (await codes_of(manager, campaign))[0]["code"])
    await student.post(f"/api/v2/checkouts/select-payment/{cart}", json={})

    client = browser()
    await log_in(client, "accountant")
    page = await client.get("/backoffice/cash-book")
    assert "Code promo (Rentrée): 1 — 9.00 €, cashed 0.00 €" in page.text
    assert "student-3@example.org" in page.text
    past = await client.get(
        "/backoffice/cash-book", params={"start": "2020-01-01", "end": "2020-12-31"}
    )
    assert "No entry in this period." in past.text
    wrong = await client.get(
        "/backoffice/cash-book", params={"start": "2021-01-01", "end": "2020-01-01"}
    )
    assert wrong.status_code == 400 and "`to` is before `from`." in wrong.text
    download = await client.get("/backoffice/cash-book.csv")
    assert "Code promo (Rentrée)" in download.text


async def test_standalone_orders_are_created_claimed_and_canceled_from_the_pages(
    browser, factory: Factory, client_for
) -> None:
    offering = await _offering(factory, price="1200.00")
    client = browser()
    await log_in(client, "admin")
    other_org = await factory.organization(title="Not selling it")
    # Seed 000: the offering is searched for, then its own organizations offered.
    searched = await client.get("/backoffice/orders/new", params={"q": offering.course.code})
    choose = f"offering_id={offering.id}"
    assert choose in searched.text and "Not selling it" not in searched.text
    assert (
        "No offering matches."
        in (await client.get("/backoffice/orders/new", params={"q": "no such thing at all"})).text
    )
    form_page = await client.get(
        "/backoffice/orders/new", params={"q": offering.course.code, "offering_id": offering.id}
    )
    sellers = re.findall(r'<option value="([0-9a-f-]{36})"', form_page.text)
    assert sellers == [str(item.id) for item in offering.organizations]
    assert str(other_org.id) not in form_page.text
    key = re.search(r'name="idempotency_key" value="([0-9a-f-]{36})"', form_page.text).group(1)
    form = {
        "csrf_token": _csrf(form_page),
        "product_id": str(offering.product_id),
        "course_code": offering.course.code,
        "count": "2",
        "idempotency_key": key,
    }
    refused = await client.post("/backoffice/orders/new", data=form | {"count": "0"})
    assert refused.status_code == 422 and "from 1 to 1000" in refused.text
    created = await client.post("/backoffice/orders/new", data=form)
    assert created.status_code == 303
    # The same form sent twice (a double click) makes the seats once.
    twice = await client.post("/backoffice/orders/new", data=form)
    assert twice.headers["location"] == created.headers["location"]
    result = await client.get(created.headers["location"])
    assert "2 orders created" in result.text
    codes = re.findall(r'data-copy="([0-9A-Z]+)"', result.text)
    # Seed 000: the green Available chip is the copy button.
    buttons = re.findall(
        r'<button type="button" class="chip ok" data-copy="[0-9A-Z]+"', result.text
    )
    assert len(codes) == 2 and len(buttons) == 2 and result.text.count(">Available</button>") == 2
    assert 'aria-label="Available: copy voucher code' in result.text
    link = re.search(r'href="(/backoffice/orders/created\.csv\?ids=[^"]+)"', result.text).group(1)
    download = await client.get(link)
    header, *rows = download.text.strip().splitlines()
    assert header == "order_id,voucher_code,product,course_code,organization"
    assert sorted(row.split(",")[1] for row in rows) == sorted(codes)

    learner = await client_for(sub="claimer")
    claimed = await _create(learner, offering, voucher_code=codes[0])
    assert claimed.json()["state"] == "completed", claimed.text  # the seat, claimed
    listed = await client.get("/backoffice/orders", params={"voucher_code": codes[0]})
    assert listed.text.count('<td data-label="Voucher">') == 1
    assert 'class="voucher used"' in listed.text and 'chip off">Used' in listed.text
    # Used: nothing to copy any more.
    assert f'data-copy="{codes[0]}"' not in listed.text
    by_product = await client.get(
        "/backoffice/orders", params={"product_id": str(offering.product_id)}
    )
    assert by_product.text.count('<td data-label="Voucher">') == 2

    free = await client.get("/backoffice/orders", params={"voucher_code": codes[1]})
    seat = re.search(r'href="/backoffice/orders/([0-9a-f-]+)"', free.text).group(1)
    page = await client.get(f"/backoffice/orders/{seat}")
    assert "nobody yet (prepaid seat)" in page.text and "<h2>Events</h2>" in page.text
    # The first click asks; only the confirmation acts.
    asked = await client.post(f"/backoffice/orders/{seat}/cancel", data={"csrf_token": _csrf(page)})
    assert asked.status_code == 200 and "Cancel this order?" in asked.text
    assert ">to_own</span>" in asked.text
    canceled = await client.post(
        f"/backoffice/orders/{seat}/cancel", data={"csrf_token": _csrf(page), "confirmed": "yes"}
    )
    assert canceled.status_code == 303
    page = await client.get(canceled.headers["location"])
    assert "Order canceled." in page.text and ">canceled</span>" in page.text
    again = await client.post(f"/backoffice/orders/{seat}/refund", data={"csrf_token": _csrf(page)})
    assert again.status_code == 409 and 'role="alert"' in again.text


async def test_academies_show_their_last_sync_and_sync_now(browser, temporal_client) -> None:
    client = browser()
    await log_in(client, "admin")
    page = await client.get("/backoffice/academies")
    assert "No sync has finished yet." in page.text and "No academy yet" in page.text
    started = await client.post("/backoffice/academies/sync", data={"csrf_token": _csrf(page)})
    notice = await client.get(started.headers["location"])
    workflow = re.search(r"Sync started \((catalog-sync-manual-[0-9a-f-]+)\)", notice.text).group(1)
    await temporal_client.get_workflow_handle(workflow).result()
    page = await client.get("/backoffice/academies")
    assert "created 3" in page.text  # the bundled demo payload
    assert page.text.count('<td data-label="Name">') == 3 and 'chip ok">Active' in page.text


async def test_a_huge_page_number_is_the_last_possible_page_not_a_500(browser) -> None:
    async with browser() as client:
        await log_in(client, "admin")
        for path in ("/backoffice/orders", "/backoffice/offerings"):
            page = await client.get(path, params={"page": "1000000000000000000"})
            assert page.status_code == 200, (path, page.status_code)


async def test_pages_are_never_framed_cached_or_referred(browser) -> None:
    """CSP with frame-ancestors 'none', no referrer, no-store: on the login
    form and on a page behind it (not on the JSON API)."""
    async with browser() as client:
        login = await client.get("/backoffice/login")
        await log_in(client, "admin")
        page = await client.get("/backoffice/orders")
        api = await client.get("/healthz")
    for answer in (login, page):
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in api.headers


async def test_a_session_ends_at_logout_whatever_copy_of_its_cookie_is_left(browser) -> None:
    """The cookie holds a random session secret, never the pasted token;
    after logout a saved copy of it opens nothing."""
    async with browser() as client:
        token = token_for(sub="staff-1", roles=["admin"])
        await log_in(client, "admin")
        saved = client.cookies.get(SESSION_COOKIE, path="/backoffice")
        assert saved and token not in saved
        page = await client.get("/backoffice/orders")
        assert page.status_code == 200
        await client.post("/backoffice/logout", data={"csrf_token": _csrf(page)})
    async with browser() as replay:
        replay.cookies.set(SESSION_COOKIE, saved, path="/backoffice")
        answer = await replay.get("/backoffice/orders")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/backoffice/login")


async def test_a_csrf_token_is_good_only_for_the_session_it_was_given_in(
    browser, factory: Factory
) -> None:
    """An attacker with a back-office account of their own plants their CSRF
    seed in the victim's browser and posts their own token: refused, because
    once logged in the token is bound to the victim's session."""
    offering = await factory.offering()
    path = f"/backoffice/offerings/{offering.id}/deep-links/activation"
    async with browser() as attacker, browser() as victim:
        await log_in(attacker, "admin", sub="attacker")
        attacker_token = _csrf(await attacker.get("/backoffice/orders"))
        attacker_seed = attacker.cookies.get(CSRF_COOKIE, path="/backoffice")
        await log_in(victim, "admin", sub="victim")
        victim.cookies.set(CSRF_COOKIE, attacker_seed, path="/backoffice")
        forged = await victim.post(path, data={"is_active": "true", "csrf_token": attacker_token})
        assert forged.status_code == 403
        # The victim's own page carries a token that works.
        own = _csrf(await victim.get(f"/backoffice/offerings/{offering.id}"))
        done = await victim.post(path, data={"is_active": "true", "csrf_token": own})
        assert done.status_code == 303


async def test_payment_issues_retry_now_and_a_refund_confirmed_first(
    browser, learner: httpx.AsyncClient, factory: Factory
) -> None:
    stuck = await _paid_order(learner, factory, "pm_card_chargeDeclinedLostCard")
    await _until(learner, stuck["id"], "no_payment")
    paying = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, paying["id"], "pending_payment")
    client = browser()
    await log_in(client, "admin")

    issues = await client.get("/backoffice/payment-issues")
    assert issues.status_code == 200
    assert f'href="/backoffice/orders/{stuck["id"]}"' in issues.text
    assert paying["id"] not in issues.text
    assert 'chip warn">no_payment' in issues.text and "lost_card" in issues.text
    assert "none: waits for the learner" in issues.text

    page = await client.get(f"/backoffice/orders/{stuck['id']}")
    retry = re.search(r'action="(/backoffice/orders/[^"]+/retry)"', page.text).group(1)
    retried = await client.post(retry, data={"csrf_token": _csrf(page)})
    assert retried.status_code == 303
    assert "Retried: refused (lost_card)." in (await client.get(retried.headers["location"])).text
    # Nothing paid: a refund is refused at the first click, before any question.
    nothing = await client.post(
        f"/backoffice/orders/{stuck['id']}/refund", data={"csrf_token": _csrf(page)}
    )
    assert nothing.status_code == 409 and "nothing to refund" in nothing.text

    page = await client.get(f"/backoffice/orders/{paying['id']}")
    assert 'chip info">pending_payment' in page.text and 'chip ok">paid' in page.text
    asked = await client.post(
        f"/backoffice/orders/{paying['id']}/refund", data={"csrf_token": _csrf(page)}
    )
    assert asked.status_code == 200 and "Refund this order?" in asked.text
    assert "135.00 EUR paid so far goes back" in asked.text
    assert (await learner.get(f"/api/v1/orders/{paying['id']}")).json()["state"] == (
        "pending_payment"
    )
    refunded = await client.post(
        f"/backoffice/orders/{paying['id']}/refund",
        data={"csrf_token": _csrf(page), "confirmed": "yes"},
    )
    assert refunded.status_code == 303
    await _until(learner, paying["id"], "refunded")


async def test_an_order_with_something_to_pay_and_no_card_warns(
    browser, learner: httpx.AsyncClient, factory: Factory
) -> None:
    """Seed 001: a warning alert, not a dash; an order with its card has none."""
    offering = await _offering(factory, price="300.00")
    created = await _create(learner, offering, billing_address=ADDRESS)
    assert created.status_code == 201, created.text
    waiting = created.json()
    paying = await _paid_order(learner, factory, "pm_card_visa")
    client = browser()
    await log_in(client, "admin")
    warning = "No payment method saved yet"
    page = await client.get(f"/backoffice/orders/{waiting['id']}")
    assert page.status_code == 200 and f'role="alert">{warning}' in page.text
    assert (await client.get(f"/backoffice/orders/{paying['id']}")).text.count(warning) == 0
