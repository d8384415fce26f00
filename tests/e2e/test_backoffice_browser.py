"""The back office in a real browser: Debian's headless Chromium driven by
Playwright, against the app and a worker served on loopback (spec 70).

The flows of the spec, each page photographed at 1280 and 390 px wide into
tests/e2e/screenshots/ (not committed) for a person to look at."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.catalog import ProductType
from tests.api.test_orders import _offering
from tests.api.test_promo_codes import app, settings  # noqa: F401 - the API with a worker
from tests.conftest import token_for
from tests.factories import Factory
from tests.fakes import serve

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parent / "screenshots"
WIDTHS = (1280, 390)
LINK = "https://www.moncompteformation.gouv.fr/espace-prive/html/#/formation/recherche/77"


@pytest.fixture
async def base_url(app) -> AsyncIterator[str]:  # noqa: F811 - the fixture imported above
    async with serve(app) as url:
        yield url


@pytest.fixture
async def page(base_url: str):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = await browser.new_context(base_url=base_url, accept_downloads=True)
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        opened = await context.new_page()
        yield opened
        await browser.close()


async def shoot(page, name: str) -> None:
    """The page at each width, whole; and at 390 px nothing wider than the screen."""
    SHOTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} is {overflow} px wider than a {width} px screen"
    unlabelled = await page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
             .map(el => el.name)"""
    )
    assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
    await page.set_viewport_size({"width": 1280, "height": 900})


async def _text(download) -> str:
    return await asyncio.to_thread(Path(await download.path()).read_text)


async def log_in(page, *roles: str) -> None:
    await page.goto("/backoffice/")
    assert page.url.endswith("/backoffice/login")
    await shoot(page, "login")
    await page.get_by_label("Staff token").fill(token_for(sub="staff-1", roles=list(roles)))
    await page.get_by_role("button", name="Log in").click()


@pytest.mark.browser
async def test_a_staff_member_does_the_tasks_of_the_spec_in_a_browser(
    page, factory: Factory
) -> None:
    offering = await _offering(factory, price="1200.00")
    await factory.product(type=ProductType.MEMBERSHIP, price="9.00", title="Adhésion annuelle")
    await log_in(page, "admin")

    # Offerings: add a deep link, activate it.
    await page.get_by_role("link", name="Offerings").click()
    await page.get_by_label("Search").fill(offering.course.code)
    await page.get_by_role("button", name="Search").click()
    await shoot(page, "offerings")
    await page.get_by_role("link", name=re.compile(offering.course.code)).click()
    await page.get_by_label("Deep link (https URL)").fill(LINK)
    await page.get_by_role("button", name="Add").click()
    await page.get_by_text("Deep link added.").wait_for()
    await page.get_by_role("button", name="Activate", exact=True).click()
    await page.get_by_text("Deep link switched.").wait_for()
    await page.get_by_role("button", name="Delete").click()
    await page.get_by_text("An active deep link cannot be deleted").wait_for()
    await shoot(page, "offering")

    # The catalogue: a course run typed in Paris time, shown back as typed.
    await page.get_by_role("link", name="Course runs", exact=True).click()
    await page.get_by_label("Course", exact=True).select_option(str(offering.course.id))
    await page.get_by_label("Title").fill("Session d'automne")
    await page.get_by_label("Starts (Paris time)").fill("2027-10-04T09:00")
    await page.get_by_label("Ends", exact=True).fill("2027-12-17T17:00")
    await shoot(page, "course-runs")
    await page.get_by_role("button", name="Create").click()
    await page.get_by_text("Course run created.").wait_for()
    assert await page.get_by_label("Starts (Paris time)").input_value() == "2027-10-04T09:00"
    await page.get_by_role("link", name="Courses", exact=True).click()
    await page.get_by_role("link", name=offering.course.code).click()
    await shoot(page, "course")

    # Two standalone orders, a voucher code copied.
    await page.get_by_role("link", name="Orders", exact=True).click()
    await page.get_by_role("link", name="New standalone order(s)").click()
    await page.get_by_label("Find the offering").fill(offering.course.code)
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=re.compile(f"Choose {offering.course.code}")).click()
    await page.get_by_label("Number of seats").fill("2")
    await shoot(page, "new-orders")
    await page.get_by_role("button", name="Create").click()
    await page.get_by_role("heading", name="2 orders created").wait_for()
    await shoot(page, "orders-created")
    first = page.locator("button[data-copy]").first
    code = await first.get_attribute("data-copy")
    await first.click()
    await page.get_by_text("Copied to clipboard").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == code
    async with page.expect_download() as seats:
        await page.get_by_role("link", name="Download the voucher codes (CSV)").click()
    rows = list(csv.reader(io.StringIO(await _text(await seats.value))))
    assert code in [row[1] for row in rows[1:]] and len(rows) == 3
    await page.get_by_role("link", name="Orders", exact=True).click()
    await page.get_by_label("Voucher code", exact=True).fill(code)
    await page.get_by_role("button", name="Filter").click()
    assert await page.locator(".voucher .chip").inner_text() == "Available"
    await shoot(page, "orders")
    await page.locator("td[data-label=Created] a").click()
    await shoot(page, "order")
    # Cancel asks first; the operator keeps the order.
    await page.get_by_role("button", name="Cancel the order…").click()
    await page.get_by_role("heading", name="Cancel this order?").wait_for()
    await shoot(page, "order-confirm")
    await page.get_by_role("link", name="No, keep it").click()
    await page.get_by_role("button", name="Refund the order…").wait_for()
    await page.get_by_role("link", name="Payment issues").click()
    await page.get_by_role("heading", name="Payment issues").wait_for()
    await shoot(page, "payment-issues")

    # A voucher for that offering: made, seen with its usage, deactivated.
    await page.get_by_role("link", name="Vouchers", exact=True).click()
    await page.get_by_role("link", name="New voucher").click()
    await page.get_by_label("Find the offering it is for").fill(offering.course.code)
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=re.compile(f"Choose {offering.course.code}")).click()
    await page.get_by_label("Code (letters, digits, dashes").fill("printemps-2027")
    await page.get_by_label("Percentage (20 for 20 %) or amount (50.00)").fill("15")
    await page.get_by_label("Several learners").check()
    await page.get_by_label("Valid until (included; empty: no end)").fill("2027-06-30T23:59")
    await page.get_by_label("At most this many orders (empty: no cap)").fill("100")
    await shoot(page, "voucher-new")
    await page.get_by_role("button", name="Create").click()
    await page.get_by_text("Voucher PRINTEMPS-2027 created.").wait_for()
    assert await page.get_by_label("Offering", exact=True).input_value() == str(offering.id)
    await shoot(page, "voucher")
    await page.get_by_role("button", name="Deactivate").click()
    await page.get_by_text("Voucher deactivated.").wait_for()
    await page.get_by_role("link", name="← Vouchers").click()
    row = page.locator("tr", has_text="PRINTEMPS-2027")
    assert "15 %" in await row.inner_text() and "0 / 100" in await row.inner_text()
    await shoot(page, "vouchers")

    # A campaign, its CSV.
    await page.get_by_role("link", name="Promo campaigns").click()
    await page.get_by_label("Operation name").fill("Rentrée 2026")
    await page.get_by_label("Valid until (included; empty: never expires)").fill("2099-06-30")
    await page.get_by_label("Number of codes").fill("25")
    await shoot(page, "campaigns")
    await page.get_by_role("button", name="Create and generate").click()
    await page.get_by_text("Codes generated: 25 of 25").wait_for(timeout=15_000)
    # The page refreshed itself once generation was over: the codes are listed.
    await page.locator("td[data-label=Code]").nth(24).wait_for(timeout=15_000)
    await shoot(page, "campaign")
    async with page.expect_download() as export:
        await page.get_by_role("link", name="Download the codes (CSV)").click()
    download = await export.value
    assert download.suggested_filename == "codes-promo-campagne-Rentrée 2026.csv"
    lines = (await _text(download)).splitlines()
    assert lines[0] == "campaign,code,contact_email,activated_at" and len(lines) == 26
    # Its life after launch: more codes, disabled then enabled, a new end date.
    await page.get_by_label("Add codes").fill("5")
    await page.get_by_role("button", name="Add", exact=True).click()
    await page.get_by_text("Codes generated: 30 of 30").wait_for(timeout=15_000)
    await page.get_by_role("button", name="Disable the campaign").click()
    await page.get_by_text("disabled: its codes answer Invalid code", exact=True).wait_for()
    await shoot(page, "campaign-actions")
    await page.get_by_role("button", name="Enable the campaign").click()
    await page.get_by_role("button", name="Disable the campaign").wait_for()
    await page.locator("#new_valid_until").fill("2099-09-30")
    await page.get_by_role("button", name="Save the end date").click()
    await page.get_by_text("2099-09-30 23:59 UTC").wait_for()

    # The cash book, and the academies.
    await page.get_by_role("link", name="Cash book").click()
    await page.get_by_role("heading", name="Cash book").wait_for()
    await shoot(page, "cash-book")
    await page.get_by_role("link", name="Academies").click()
    await shoot(page, "academies")

    await page.get_by_role("button", name="Log out").click()
    assert page.url.endswith("/backoffice/login")
