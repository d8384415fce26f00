"""Contract documents: a readable PDF whose checksum identifies its content."""

from __future__ import annotations

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
