"""Cells of the CSV exports (codes, cash book, orders, prepaid seats).

A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return as a formula: a campaign name, an email or an id chosen by
someone else must not become one on an accountant's machine (CSV injection,
OWASP). Such a cell is written with a leading `'`, which spreadsheets show
as text. Plain numbers (a refund's "-135.00") are left as they are."""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def safe_cell(value: object) -> object:
    """The value as written in a CSV cell: text that a spreadsheet would run
    as a formula gets a leading `'`; anything else is unchanged."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return f"'{value}"
