"""CSV lines for the streamed exports."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from domain.exports import safe_cell


def csv_line(values: Iterable[object]) -> str:
    """One line of an export, each cell made safe for spreadsheets."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(value) for value in values])
    return buffer.getvalue()


def attachment(filename: str, *, inline: bool = False) -> dict[str, str]:
    """Content-Disposition for a download (or, inline, a document the browser
    shows): an ASCII name for every client, the exact (UTF-8) name for those
    that read RFC 6266's `filename*`."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in filename)
    how = "inline" if inline else "attachment"
    return {
        "Content-Disposition": f"{how}; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"
    }


def streamed_csv(
    *,
    columns: Sequence[str],
    batches: AsyncIterable[Iterable[Any]],
    row: Callable[[Any], Iterable[object]],
    filename: str,
) -> StreamingResponse:
    """A CSV download written a batch at a time: memory stays flat whatever
    the count."""

    async def lines() -> AsyncIterator[str]:
        yield csv_line(columns)
        async for batch in batches:
            for item in batch:
                yield csv_line(row(item))

    return StreamingResponse(
        lines(), media_type="text/csv; charset=utf-8", headers=attachment(filename)
    )
