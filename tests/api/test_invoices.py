"""Invoices and credit notes as documents (spec 25): the issuer's legal
number, lines excl. tax / tax / incl. tax, what was issued frozen, and the
PDF a learner downloads, the same bytes each time."""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from decimal import Decimal

import httpx
from pypdf import PdfReader

from domain.payment_schedule import paris_day
from models.catalog import Organization
from tests.api.test_backoffice import _csrf, browser, log_in  # noqa: F401 - fixture
from tests.api.test_installments import _paid_order, _until
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.factories import Factory

ISSUER = {
    "legal_name": "École Exemple SAS",
    "address": {"address": "5 quai Voltaire", "postcode": "69002", "city": "Lyon", "country": "FR"},
    "registration_number": "123 456 789 00012",
    "vat_number": "FR12345678901",
}


def text_of(pdf: bytes) -> str:
    """What a PDF viewer shows of the document."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _year(document: dict) -> int:
    return paris_day(datetime.fromisoformat(document["created_at"])).year


async def _documents(client: httpx.AsyncClient, order_id: str) -> list[dict]:
    response = await client.get(f"/api/v1/orders/{order_id}/invoices")
    assert response.status_code == 200, response.text
    return response.json()


async def _pdf(client: httpx.AsyncClient, document: dict) -> bytes:
    response = await client.get(document["pdf_url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith(
        f'inline; filename="{document["reference"]}.pdf"'
    )
    return response.content


async def _issuer(factory: Factory) -> Organization:
    return await factory.organization(**ISSUER)


async def test_an_installment_invoice_has_its_number_tax_and_frozen_issuer(
    learner: httpx.AsyncClient, admin: httpx.AsyncClient, factory: Factory
) -> None:
    org = await _issuer(factory)
    order = await _paid_order(
        learner, factory, "pm_card_visa", organization=org, tax_rate=Decimal("0.20")
    )
    await _until(learner, order["id"], "pending_payment")
    summary, invoice = await _documents(learner, order["id"])

    assert summary["parent_id"] is None and summary["reference"].startswith("F-")
    assert summary["lines"] == [
        {
            "label": summary["lines"][0]["label"],
            "tax_rate": "0.20",
            "amount_excl_tax": "375.00",
            "tax": "75.00",
            "amount_incl_tax": "450.00",
        }
    ]
    assert invoice["reference"] == f"{org.code}-{_year(invoice)}-000001"
    assert (invoice["total_excl_tax"], invoice["total_tax"], invoice["total"]) == (
        "112.50",
        "22.50",
        "135.00",
    )
    (line,) = invoice["lines"]
    assert line["label"].endswith("échéance 1/3")
    assert invoice["issuer"] == {"code": org.code, "title": org.title} | ISSUER

    first = await _pdf(learner, invoice)
    renamed = await admin.patch(
        f"/api/v1/admin/organizations/{org.id}", json={"legal_name": "Autre Nom SARL"}
    )
    assert renamed.status_code == 200, renamed.text
    # Issued is issued: the new name is for the next invoices only.
    assert (await _documents(learner, order["id"]))[1]["issuer"]["legal_name"] == ISSUER[
        "legal_name"
    ]
    assert await _pdf(learner, invoice) == first
    text = text_of(first)
    for expected in (
        "Facture",
        invoice["reference"],
        "École Exemple SAS",
        "5 quai Voltaire",
        "SIRET 123 456 789 00012",
        "N° TVA FR12345678901",
        "Facturé à",
        "Ada Lovelace",
        "112,50\u00a0€",
        "22,50\u00a0€",
        "135,00\u00a0€",
        "TVA %",
        "Payé par carte le",
    ):
        assert expected in text, (expected, text)
    summary_text = text_of(await _pdf(learner, summary))
    assert "Récapitulatif de commande (pro forma)" in summary_text
    assert "n'est pas une facture" in summary_text


async def test_a_refund_is_a_credit_note_numbered_apart_against_its_invoice(
    learner: httpx.AsyncClient, admin: httpx.AsyncClient, factory: Factory
) -> None:
    org = await _issuer(factory)
    order = await _paid_order(
        learner, factory, "pm_card_visa", organization=org, language="en", tax_rate=Decimal("0.055")
    )
    await _until(learner, order["id"], "pending_payment")
    assert (await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")).is_success
    await _until(learner, order["id"], "refunded")
    _, invoice, credit_note = await _documents(learner, order["id"])

    year = _year(credit_note)
    assert invoice["reference"] == f"{org.code}-{year}-000001"
    assert credit_note["kind"] == "credit_note"
    assert credit_note["reference"] == f"{org.code}-AV-{year}-000001"
    assert (credit_note["total_excl_tax"], credit_note["total_tax"], credit_note["total"]) == (
        "-127.96",
        "-7.04",
        "-135.00",
    )
    assert credit_note["lines"][0]["label"].startswith("Refund - ")
    text = text_of(await _pdf(learner, credit_note))
    for expected in (
        "Credit note",
        credit_note["reference"],
        f"Credit note for invoice {invoice['reference']}",
        "Tax %",
        "5.5",
        "-€127.96",
        "Refunded to the card on",
    ):
        assert expected in text, (expected, text)


async def test_invoice_pdfs_are_the_owners_and_admins_only(
    learner: httpx.AsyncClient, admin: httpx.AsyncClient, client_for, factory: Factory
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    other = await _paid_order(learner, factory, "pm_card_visa")
    (summary,) = (await _documents(learner, order["id"]))[:1]
    (foreign,) = (await _documents(learner, other["id"]))[:1]
    stranger = await client_for(sub="someone-else")
    assert (await stranger.get(summary["pdf_url"])).json()["error"]["code"] == "order_not_found"
    assert (await (await client_for()).get(summary["pdf_url"])).status_code == 401
    assert (await admin.get(summary["pdf_url"])).status_code == 200
    for unknown in (uuid.uuid4(), foreign["id"]):
        missing = await learner.get(f"/api/v1/orders/{order['id']}/invoices/{unknown}.pdf")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "invoice_not_found"


async def test_the_back_office_order_page_links_each_invoice_pdf(
    browser,  # noqa: F811
    learner: httpx.AsyncClient,
    factory: Factory,
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, order["id"], "pending_payment")
    documents = await _documents(learner, order["id"])
    client = browser()
    await log_in(client, "admin")
    page = await client.get(f"/backoffice/orders/{order['id']}")
    assert page.status_code == 200
    for document in documents:
        link = f"/backoffice/orders/{order['id']}/invoices/{document['id']}.pdf"
        assert f'href="{link}"' in page.text
        printed = await client.get(link)
        assert printed.headers["content-type"] == "application/pdf"
        assert printed.content == await _pdf(learner, document)
    assert "order summary (pro forma)" in page.text and documents[1]["reference"] in page.text
    # Staff of another trade sees no order's documents.
    promo_staff = browser()
    await log_in(promo_staff, "promo_manager", sub="promo-staff")
    link = f"/backoffice/orders/{order['id']}/invoices/{documents[0]['id']}.pdf"
    assert (await promo_staff.get(link)).status_code == 403


async def test_issuer_fields_and_tax_rates_are_validated(admin: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/api/v1/admin/organizations", json={"code": "ISSUER-A", "title": "A"} | ISSUER
    )
    assert created.status_code == 201, created.text
    assert {key: created.json()[key] for key in ISSUER} == ISSUER
    for bad in (
        {"address": {"address": "x", "postcode": "1", "city": "y"}},  # no country
        {"vat_number": "FR" + "1" * 60},
        {"legal_name": "Two\nlines"},
    ):
        refused = await admin.patch(f"/api/v1/admin/organizations/{created.json()['id']}", json=bad)
        assert refused.status_code == 422, bad
    product = {"type": "credential", "title": "Taxed", "price": "100.00"}
    taxed = await admin.post("/api/v1/admin/products", json=product | {"tax_rate": "0.2"})
    assert taxed.status_code == 201 and taxed.json()["tax_rate"] == "0.20"
    untaxed = await admin.post("/api/v1/admin/products", json=product)
    assert untaxed.json()["tax_rate"] == "0.00"
    for rate in ("1", "-0.1", "0.00001", "20"):
        refused = await admin.post("/api/v1/admin/products", json=product | {"tax_rate": rate})
        assert refused.status_code == 422, rate
