"""CSV cells a spreadsheet would run as formulas are written as text."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from api.csv import csv_line
from domain.exports import safe_cell


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://evil.example")', "+1+2", "-1+cmd", "@SUM(A1)", "\tx", "\rx", "-"],
)
def test_a_formula_is_written_as_text(value: str) -> None:
    assert safe_cell(value) == f"'{value}"


@pytest.mark.parametrize("value", ["Rentrée 2026", "ada@example.org", "-135.00", "-9", "", "a=b"])
def test_other_text_and_plain_numbers_are_unchanged(value: str) -> None:
    assert safe_cell(value) == value


def test_every_export_line_is_made_safe() -> None:
    """csv_line writes the cash book, orders.csv and the prepaid seats' CSV."""
    line = csv_line(["=cmd|' /C calc'!A0", "learner-1", Decimal("-135.00"), None, "-135.00"])
    (cells,) = list(csv.reader(io.StringIO(line)))
    assert cells == ["'=cmd|' /C calc'!A0", "learner-1", "-135.00", "", "-135.00"]
