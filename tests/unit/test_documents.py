"""Documents: a contract PDF whose checksum identifies its content; invoice
lines, their tax and their wording."""

from __future__ import annotations

from decimal import Decimal

from domain.invoices import InvoiceLine, LineKind, line_label, split_tax
from integrations.documents import checksum, render_contract

CONTEXT = {
    "learner": "Ada Lovelace",
    "course": {"code": "PY-101"},
    "total": "450.00",
    "currency": "EUR",
}


def test_same_contract_same_bytes_and_checksum() -> None:
    first = render_contract(
        title="Contrat — Python", body="Clauses « générales »…", context=CONTEXT
    )
    second = render_contract(
        title="Contrat — Python", body="Clauses « générales »…", context=CONTEXT
    )
    assert first.startswith(b"%PDF-")
    assert first == second
    assert len(checksum(first)) == 64


def test_another_contract_another_checksum() -> None:
    first = render_contract(title="Contrat", body="", context=CONTEXT)
    other = render_contract(title="Contrat", body="", context=CONTEXT | {"total": "451.00"})
    assert checksum(first) != checksum(other)


def test_tax_included_amounts_split_to_the_cent() -> None:
    for amount, rate, excluded, tax in (
        ("135.00", "0.20", "112.50", "22.50"),
        ("135.00", "0.055", "127.96", "7.04"),
        ("0.01", "0.20", "0.01", "0.00"),
        ("-135.00", "0.20", "-112.50", "-22.50"),
        ("99.99", "0", "99.99", "0.00"),
    ):
        split = split_tax(amount=Decimal(amount), tax_rate=Decimal(rate))
        assert split == (Decimal(excluded), Decimal(tax))
        assert sum(split) == Decimal(amount)


def test_every_kind_of_line_reads_in_the_order_language() -> None:
    def line(kind: LineKind, position: int | None = 2) -> InvoiceLine:
        return InvoiceLine(
            kind=kind, title="Python", amount=Decimal("1"), position=position, count=3
        )

    assert [
        line_label(
            line(kind, None if kind in (LineKind.PRODUCT, LineKind.DISCOUNT) else 2), language="fr"
        )
        for kind in LineKind
    ] == [
        "Python",
        "Remise - Python",
        "Python - échéance 2/3",
        "Remboursement - Python, échéance 2/3",
    ]
    # Documents issued before lines were kept have no place in the schedule.
    assert line_label(line(LineKind.REFUND, None), language="en") == "Refund - Python"
    assert line_label(line(LineKind.INSTALLMENT, None), language="en") == "Python"
