"""Contracts as PDF documents, rendered in pure Python (fpdf2)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)
# Each block starts on a new line at the left margin.
NEXT_LINE = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}


def _printable(text: str) -> str:
    # The core PDF fonts cover Latin-1 (French included); other characters
    # (dashes, quotes) are replaced rather than failing the render.
    replacements = {
        "\u2014": "-",  # em dash
        "\u2013": "-",  # en dash
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
    }
    for source, target in replacements.items():
        text = text.replace(source, target)
    return text.encode("latin-1", "replace").decode("latin-1")


def render_contract(*, title: str, body: str, context: dict[str, Any]) -> bytes:
    """The contract as a PDF. The same inputs give the same bytes (no dates in
    the metadata), so its checksum identifies what was signed."""
    pdf = FPDF()
    pdf.set_creation_date(FIXED_DATE)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(0, 10, _printable(title), **NEXT_LINE)
    pdf.set_font("Helvetica", size=11)
    pdf.ln(4)
    if body:
        pdf.multi_cell(0, 6, _printable(body), **NEXT_LINE)
        pdf.ln(4)
    for key, value in sorted(context.items()):
        pdf.multi_cell(0, 6, _printable(f"{key}: {value}"), **NEXT_LINE)
    return bytes(pdf.output())


def checksum(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()
