"""Log lines: JSON objects with the structured fields at the top level."""

from __future__ import annotations

import json
import logging

from logs import JsonFormatter, TextFormatter


def _record(**fields: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "guichet.request", logging.INFO, __file__, 1, "GET %s", ("/x",), None
    )
    record.fields = fields
    return record


def test_json_line_carries_the_fields() -> None:
    line = JsonFormatter().format(_record(route="/x", status=200))
    payload = json.loads(line)
    assert payload["msg"] == "GET /x"
    assert payload["level"] == "info"
    assert payload["logger"] == "guichet.request"
    assert payload["route"] == "/x"
    assert payload["status"] == 200
    assert "\n" not in line


def test_text_line_appends_key_values() -> None:
    line = TextFormatter().format(_record(route="/x", status=200))
    assert line.endswith("GET /x route=/x status=200")
