"""Promo-code campaigns: what a campaign asks for, its statuses, what an
activation answers. The code format itself is domain/codes.py."""

from __future__ import annotations

import csv
import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from domain import codes
from domain.errors import Conflict, NotFound, Unprocessable, error_class

CampaignNotFound = error_class(NotFound, "campaign_not_found")
CodeNotFound = error_class(NotFound, "code_not_found")
CodeUsed = error_class(Conflict, "code_used")
CampaignNameTaken = error_class(Conflict, "campaign_name_taken")
CodeSpaceTooSmall = error_class(Unprocessable, "code_space_too_small")
InvalidCampaignName = error_class(Unprocessable, "invalid_campaign_name")
InvalidCampaignProduct = error_class(Unprocessable, "invalid_campaign_product")
InvalidValidUntil = error_class(Unprocessable, "invalid_valid_until")
TooManyCodes = error_class(Unprocessable, "too_many_codes")
# Its workflow is over (expired, failed): nothing about it changes any more.
CampaignOver = error_class(Conflict, "campaign_over")
# Codes are added to a ready campaign only (not while it generates).
CampaignNotReady = error_class(Conflict, "campaign_not_ready")
# A file of codes printed elsewhere with a bad line: nothing imported.
ImportRejected = error_class(Unprocessable, "import_rejected")
# Codes imported at once, at most (they ride in the campaign's workflow history).
IMPORT_MAX_LINES = 10_000

WORKFLOW_PREFIX = "promo-campaign:"
# The campaign's creator hears of its end this long before (campaign_expiring).
EXPIRY_NOTICE = timedelta(days=7)
# Codes written per transaction: progress is visible, a retry redoes at most this.
GENERATION_BATCH = 50_000


class CampaignStatus(StrEnum):
    GENERATING = "generating"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


class ActivationRefusal(StrEnum):
    """The reasons the member-site client shows, word for word."""

    INVALID = "Invalid code"
    EXPIRED = "Expired code"
    LIMIT = "Code limit reached"


class Activated(StrEnum):
    """A code in the member's cart: taken now, or by their own earlier
    request (a retry; nothing added)."""

    NOW = "activated"
    ALREADY = "retried"


class NewCampaign(BaseModel):
    """A campaign to write, as the service checked it."""

    name: str
    client_code: str
    code_prefix: str
    product_id: uuid.UUID
    codes_count: int
    code_length: int
    created_by: str
    # None: today's format (Crockford, its check) of code_length characters.
    code_format: dict | None = None
    # None in runs started before the limit existed: no limit.
    max_codes_per_member: int | None = None


class CampaignInput(BaseModel):
    campaign_id: uuid.UUID
    # None: the campaign never expires.
    valid_until: datetime | None
    batch_size: int = GENERATION_BATCH
    # A code activated into a cart not validated within this long is
    # released (GUICHET_CART_CODE_HOLD); None in runs started before: never.
    code_hold: timedelta | None = None
    # The campaign the workflow writes first; None in runs started when the
    # API wrote it.
    new: NewCampaign | None = None


class CampaignChange(BaseModel):
    """What an operator changes on a live campaign; None leaves it as it is."""

    campaign_id: uuid.UUID
    valid_until: datetime | None = None
    # True: no end date any more (valid_until is then ignored).
    never_expires: bool = False
    is_active: bool | None = None

    @property
    def moves_validity(self) -> bool:
        return self.never_expires or self.valid_until is not None

    def new_valid_until(self, current: datetime | None) -> datetime | None:
        if self.never_expires:
            return None
        return self.valid_until or current


class ImportCodes(BaseModel):
    """Codes printed elsewhere, checked and normalised by the service."""

    codes: list[str]


class CodesImported(BaseModel):
    campaign_id: uuid.UUID
    codes: list[str]


def read_codes_csv(text: str) -> list[tuple[int, str]]:
    """(line number, code as written) of a CSV whose header names a `code`
    column (any case; comma or semicolon); blank lines skipped.
    ImportRejected when the file itself is wrong."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].strip():
        raise ImportRejected("The file is empty.", details=[{"line": 1, "reason": "empty"}])
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [name.strip().lower() for name in next(reader)]
    if "code" not in header:
        details = [{"line": 1, "reason": "no `code` column in the header"}]
        raise ImportRejected("The file has no `code` column.", details=details)
    column = header.index("code")
    found = [
        (reader.line_num, row[column] if column < len(row) else "")
        for row in reader
        if any(cell.strip() for cell in row)
    ]
    if len(found) > IMPORT_MAX_LINES:
        details = [{"line": found[IMPORT_MAX_LINES][0], "reason": "one code too many"}]
        raise ImportRejected(f"At most {IMPORT_MAX_LINES} codes per file.", details=details)
    return found


def import_lines(lines: list[tuple[int, str]], *, taken: set[str]) -> list[str]:
    """The codes to import, as stored, or ImportRejected naming each bad
    line: empty, malformed, too long, twice in the file, or a code some
    campaign has already."""
    found: list[str] = []
    problems: list[dict[str, object]] = []
    first_line: dict[str, int] = {}
    for line, typed in lines:
        code = codes.squeezed(typed)
        reason = codes.import_problem(code)
        if reason is None and code in first_line:
            reason = f"the same code as line {first_line[code]}"
        if reason is None and code in taken:
            reason = "a code of a campaign already"
        if reason is not None:
            problems.append({"line": line, "code": code[:80], "reason": reason})
        first_line.setdefault(code, line)
        found.append(code)
    if problems:
        raise ImportRejected(
            f"{len(problems)} line(s) cannot be imported: nothing was.", details=problems
        )
    return found


class ReleaseHolds(BaseModel):
    campaign_id: uuid.UUID
    hold: timedelta


class AddCodes(BaseModel):
    """An operator's request: `count` codes more (at most `max_codes` in all)."""

    count: int
    max_codes: int


class MoreCodes(BaseModel):
    """A ready campaign's count raised: the generation draws the difference."""

    campaign_id: uuid.UUID
    # The count it reaches (the workflow adds the request's count to what it
    # knows): a retried activity raises it once.
    target: int
    max_codes: int


class GenerationProgress(BaseModel):
    generated: int
    target: int


def workflow_id(campaign_id: uuid.UUID) -> str:
    return f"{WORKFLOW_PREFIX}{campaign_id}"


def ledger_label(campaign_name: str) -> str:
    """How the cash book names a payment by code."""
    return f"Code promo ({campaign_name})"


def check_request(
    *,
    name: str,
    client_code: str,
    count: int,
    code_format: codes.CodeFormat,
    max_codes: int,
    valid_until: datetime | None,
    now: datetime,
) -> str:
    """Refuse up front what could not be generated; the codes' prefix otherwise."""
    check_count(count=count, code_format=code_format, max_codes=max_codes)
    check_valid_until(valid_until, now=now)
    try:
        return codes.prefix(client_code=client_code, campaign_name=name)
    except codes.InvalidCodePart as error:
        raise InvalidCampaignName(f"{error}.") from None


def check_count(*, count: int, code_format: codes.CodeFormat, max_codes: int) -> None:
    """A campaign's (new) count of codes: within the setting, and room to
    draw them in its format (ROOM times the count within its code space)."""
    if count > max_codes:
        raise TooManyCodes(
            f"A campaign has at most {max_codes} codes.", details={"max_codes": max_codes}
        )
    if not code_format.fits(count):
        size = len(code_format.characters)
        raise CodeSpaceTooSmall(
            f"{count} codes do not fit in {size}^{code_format.length} random parts with "
            f"room to spare; use longer codes.",
            details={"max_count": code_format.space_size() // codes.ROOM},
        )


def check_valid_until(valid_until: datetime | None, *, now: datetime) -> None:
    if valid_until is not None and valid_until <= now:
        raise InvalidValidUntil("valid_until must be in the future.")


def expiry_notice_at(valid_until: datetime | None) -> datetime | None:
    """When the creator hears the campaign ends; None when it never does."""
    return valid_until - EXPIRY_NOTICE if valid_until is not None else None
