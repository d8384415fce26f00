"""Promo-code campaigns and their codes.

Codes are unique across every campaign by the database (a unique index), not
by a check before writing: a drawn code that collides is simply not inserted,
and the generator draws again until the campaign has its count.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain import codes
from domain.exports import safe_cell
from domain.promo_codes import (
    ActivationRefusal,
    CampaignChange,
    CampaignInput,
    CampaignNameTaken,
    CampaignNotFound,
    CampaignStatus,
    CodeNotFound,
    CodesImported,
    CodeUsed,
    GenerationProgress,
    ImportRejected,
    MoreCodes,
    check_count,
)
from models.base import Base, TimestampMixin, UTCDateTime, new_id, utcnow
from models.users import User

STATUSES_SQL = ", ".join(f"'{status.value}'" for status in CampaignStatus)
# Codes may be activated while their campaign is in one of these.
ACTIVATABLE = (CampaignStatus.READY.value, CampaignStatus.GENERATING.value)
# Attempts to fill one batch before generation is declared impossible: with
# the code space ROOM times the count, a round redraws under a tenth.
FILL_ROUNDS = 20
CSV_HEADER = "campaign,code,contact_email,activated_at\n"


class Campaign(TimestampMixin, Base):
    __tablename__ = "promo_campaigns"
    __table_args__ = (
        CheckConstraint(f"status IN ({STATUSES_SQL})", name="status"),
        CheckConstraint("codes_count > 0", name="codes_count_positive"),
        CheckConstraint("generated_count >= 0", name="generated_count_positive"),
        CheckConstraint(
            "max_codes_per_member IS NULL OR max_codes_per_member > 0",
            name="max_codes_per_member_positive",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    client_code: Mapped[str] = mapped_column(String(16))
    code_prefix: Mapped[str] = mapped_column(String(40))
    # None: the campaign never expires.
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # False: disabled by an operator, its codes answer Invalid code.
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The end date the creator was told of (campaign_expiring), once per date.
    expiry_notice_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    codes_count: Mapped[int] = mapped_column(Integer)
    code_length: Mapped[int] = mapped_column(Integer)
    generated_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.GENERATING.value)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # How many of its codes one member may activate; None: no limit.
    max_codes_per_member: Mapped[int | None] = mapped_column(Integer)
    # {"alphabet", "length", "check_character"}; None: today's format.
    code_format: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    @property
    def format(self) -> codes.CodeFormat:
        if self.code_format is None:
            return codes.CodeFormat(length=self.code_length)
        return codes.CodeFormat.model_validate(self.code_format)


class PromoCode(Base):
    __tablename__ = "promo_codes"
    __table_args__ = (
        # Counting a campaign's used codes reads only the used ones.
        Index(
            "ix_promo_codes_used",
            "campaign_id",
            postgresql_where=text("used_by IS NOT NULL"),
            sqlite_where=text("used_by IS NOT NULL"),
        ),
        Index("ix_promo_codes_campaign_id_id", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    code: Mapped[str] = mapped_column(String(64), unique=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("promo_campaigns.id", ondelete="CASCADE")
    )
    used_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Out of use (a lost batch) since then: it answers Invalid code.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- campaigns -----------------------------------------------------------------------------


async def add_campaign(*, session: AsyncSession, campaign: Campaign) -> Campaign:
    session.add(campaign)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise CampaignNameTaken(f"A campaign is already named {campaign.name!r}.") from None
    return campaign


async def create_campaign(*, session: AsyncSession, params: CampaignInput) -> Campaign:
    """The campaign's row, written by its workflow; idempotent on its id."""
    existing = await session.get(Campaign, params.campaign_id)
    if existing is not None:
        return existing
    assert params.new is not None
    return await add_campaign(
        session=session,
        campaign=Campaign(
            id=params.campaign_id,
            valid_until=params.valid_until,
            **params.new.model_dump(),
        ),
    )


async def get_campaign(*, session: AsyncSession, id: uuid.UUID) -> Campaign:
    campaign = await session.get(Campaign, id)
    if campaign is None:
        raise CampaignNotFound(f"No campaign {id}.")
    return campaign


async def find_campaign(*, session: AsyncSession, key: str) -> Campaign:
    """By id or by name: what an operator types on the command line."""
    try:
        return await get_campaign(session=session, id=uuid.UUID(key))
    except ValueError:
        found = await session.scalar(select(Campaign).where(Campaign.name == key))
    if found is None:
        raise CampaignNotFound(f"No campaign named {key!r}.")
    return found


async def used_counts(*, session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(PromoCode.campaign_id, func.count())
        .where(PromoCode.campaign_id.in_(ids), PromoCode.used_by.is_not(None))
        .group_by(PromoCode.campaign_id)
    )
    return {campaign_id: count for campaign_id, count in rows}


async def move_campaign(
    *,
    session: AsyncSession,
    id: uuid.UUID,
    target: CampaignStatus,
    expected: Sequence[CampaignStatus],
    reason: str | None = None,
) -> bool:
    """Conditional: a retried activity or a late timer moves it at most once."""
    moved = await session.execute(
        update(Campaign)
        .where(Campaign.id == id, Campaign.status.in_([status.value for status in expected]))
        .values(status=target.value, failure_reason=reason, updated_at=utcnow())
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


# --- generation ----------------------------------------------------------------------------


async def fill_batch(
    *, session: AsyncSession, campaign_id: uuid.UUID, batch_size: int
) -> GenerationProgress:
    """Add up to `batch_size` new codes to the campaign, never beyond its count.

    The campaign row is locked for the transaction, so two runs of the
    activity (a retry racing a slow first attempt) cannot both add a batch."""
    campaign = await session.scalar(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    )
    if campaign is None:
        raise CampaignNotFound(f"No campaign {campaign_id}.")
    wanted = min(batch_size, campaign.codes_count - campaign.generated_count)
    added = 0
    for _ in range(FILL_ROUNDS):
        if added >= wanted:
            break
        code_format = campaign.format
        drawn = codes.format_codes(
            campaign.code_prefix,
            codes.format_random_parts(wanted - added, code_format),
            code_format,
        )
        added += await _insert_new(session, campaign_id, drawn)
    else:
        if added < wanted:
            raise CodeSpaceExhausted(
                f"{FILL_ROUNDS} draws could not find {wanted} unused codes; use longer codes."
            )
    campaign.generated_count += added
    await session.flush()
    return GenerationProgress(generated=campaign.generated_count, target=campaign.codes_count)


async def change_campaign(*, session: AsyncSession, change: CampaignChange) -> Campaign:
    """An operator's change of a live campaign, written once (asking twice
    writes the same)."""
    campaign = await _locked(session, change.campaign_id)
    campaign.valid_until = change.new_valid_until(campaign.valid_until)
    if change.is_active is not None:
        campaign.is_active = change.is_active
    campaign.updated_at = utcnow()
    await session.flush()
    return campaign


async def raise_count(*, session: AsyncSession, more: MoreCodes) -> Campaign:
    """The count raised to `more.target` for the generation to draw the
    difference; a retried activity finds it raised already."""
    campaign = await _locked(session, more.campaign_id)
    if campaign.codes_count >= more.target:
        return campaign
    check_count(count=more.target, code_format=campaign.format, max_codes=more.max_codes)
    campaign.codes_count = more.target
    campaign.status = CampaignStatus.GENERATING.value
    campaign.updated_at = utcnow()
    await session.flush()
    return campaign


async def _locked(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign:
    campaign = await session.scalar(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    )
    if campaign is None:
        raise CampaignNotFound(f"No campaign {campaign_id}.")
    return campaign


async def taken_codes(*, session: AsyncSession, candidates: list[str]) -> set[str]:
    """Which of these codes some campaign has already."""
    found: set[str] = set()
    for start in range(0, len(candidates), 1000):
        chunk = candidates[start : start + 1000]
        found.update(await session.scalars(select(PromoCode.code).where(PromoCode.code.in_(chunk))))
    return found


async def import_codes(*, session: AsyncSession, imported: CodesImported) -> int:
    """Codes printed elsewhere added to the campaign, all or none; counted
    like generated ones. A retried activity finds them there and adds
    nothing. The campaign's count of codes after."""
    campaign = await _locked(session, imported.campaign_id)
    taken = await taken_codes(session=session, candidates=imported.codes)
    ours = (
        set(
            await session.scalars(
                select(PromoCode.code).where(
                    PromoCode.campaign_id == campaign.id, PromoCode.code.in_(list(taken))
                )
            )
        )
        if taken
        else set()
    )
    if taken and ours == set(imported.codes):
        return campaign.codes_count  # this very import, committed before a retry
    if taken:
        details = [
            {"code": code, "reason": "a code of a campaign already"} for code in sorted(taken)
        ]
        raise ImportRejected("Codes taken meanwhile: nothing was imported.", details=details[:100])
    await session.execute(
        PromoCode.__table__.insert(),
        [{"code": code, "campaign_id": campaign.id} for code in imported.codes],
    )
    campaign.codes_count += len(imported.codes)
    campaign.generated_count += len(imported.codes)
    campaign.updated_at = utcnow()
    await session.flush()
    return campaign.codes_count


@dataclass(frozen=True)
class ExpiryNotice:
    campaign: Campaign
    email: str
    creator_name: str
    used: int


async def expiry_notice(*, session: AsyncSession, campaign_id: uuid.UUID) -> ExpiryNotice | None:
    """What the creator is told of the campaign's end, noted as told in
    this transaction; None when told already for this date (or it has none)."""
    campaign = await _locked(session, campaign_id)
    if campaign.valid_until is None or campaign.expiry_notice_for == campaign.valid_until:
        return None
    creator = await session.get(User, campaign.created_by)
    campaign.expiry_notice_for = campaign.valid_until
    if creator is None or not creator.email:
        return None
    used = (await used_counts(session=session, ids=[campaign_id])).get(campaign_id, 0)
    return ExpiryNotice(
        campaign=campaign,
        email=creator.email,
        creator_name=creator.name or creator.email,
        used=used,
    )


class CodeSpaceExhausted(Exception):
    """Redraws keep colliding: the prefix's code space is (nearly) used up."""


async def _insert_new(session: AsyncSession, campaign_id: uuid.UUID, drawn: list[str]) -> int:
    """Insert the codes not taken yet (by any campaign); how many were new."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        return await _copy_new(connection, campaign_id, drawn)
    return await _insert_ignoring_taken(connection, campaign_id, drawn)


async def _copy_new(connection: AsyncConnection, campaign_id: uuid.UUID, drawn: list[str]) -> int:
    """COPY straight into the table; when a code collides (the whole COPY
    fails), again through a staging table keeping only the new ones."""
    distinct = dict.fromkeys(drawn)
    rows = "".join(f"{code}\t{campaign_id}\n" for code in distinct)
    raw = (await connection.get_raw_connection()).driver_connection
    try:
        async with connection.begin_nested():
            await _copy_in(raw, "COPY promo_codes (code, campaign_id) FROM STDIN", rows)
        return len(distinct)
    except UniqueViolation:  # psycopg's own: the raw COPY is not wrapped by SQLAlchemy
        pass
    await connection.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS promo_codes_drawn "
            "(code varchar(64), campaign_id uuid) ON COMMIT DELETE ROWS"
        )
    )
    await connection.execute(text("DELETE FROM promo_codes_drawn"))
    await _copy_in(raw, "COPY promo_codes_drawn (code, campaign_id) FROM STDIN", rows)
    inserted = await connection.execute(
        text(
            "INSERT INTO promo_codes (code, campaign_id) "
            "SELECT DISTINCT code, campaign_id FROM promo_codes_drawn "
            "ON CONFLICT (code) DO NOTHING"
        )
    )
    return inserted.rowcount  # type: ignore[attr-defined]


async def _copy_in(raw: Any, statement: str, rows: str) -> None:
    async with raw.cursor() as cursor, cursor.copy(statement) as copy:
        await copy.write(rows)


async def _insert_ignoring_taken(
    connection: AsyncConnection, campaign_id: uuid.UUID, drawn: list[str]
) -> int:
    before = await _count(connection, campaign_id)
    await connection.execute(
        sqlite_insert(PromoCode).on_conflict_do_nothing(index_elements=["code"]),
        [{"code": code, "campaign_id": campaign_id} for code in drawn],
    )
    return await _count(connection, campaign_id) - before


async def _count(connection: AsyncConnection, campaign_id: uuid.UUID) -> int:
    found = await connection.scalar(
        select(func.count()).select_from(PromoCode).where(PromoCode.campaign_id == campaign_id)
    )
    return int(found or 0)


# --- reading codes -------------------------------------------------------------------------


def codes_query(*, campaign_id: uuid.UUID, used: bool | None):
    query = select(PromoCode).where(PromoCode.campaign_id == campaign_id).order_by(PromoCode.id)
    if used is True:
        query = query.where(PromoCode.used_by.is_not(None))
    elif used is False:
        query = query.where(PromoCode.used_by.is_(None))
    return query


async def emails(*, session: AsyncSession, user_ids: set[str]) -> dict[str, str]:
    rows = await session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
    return dict(rows.all())


async def export_csv(
    *, connection: AsyncConnection, campaign: Campaign, chunk_rows: int = 10_000
) -> AsyncIterator[bytes]:
    """The campaign's codes as CSV, in chunks: memory stays flat whatever the count.

    PostgreSQL writes the CSV lines itself, block by block, several times
    faster than formatting rows in Python; SQLite streams rows."""
    yield CSV_HEADER.encode()
    if connection.dialect.name == "postgresql":
        async for chunk in _blocks_csv(connection, campaign):
            yield chunk
        return
    query = (
        select(PromoCode.code, User.email, PromoCode.activated_at)
        .outerjoin(User, User.id == PromoCode.used_by)
        .where(PromoCode.campaign_id == campaign.id)
        .order_by(PromoCode.id)
    )
    rows = await connection.stream(query.execution_options(yield_per=chunk_rows))
    async for partition in rows.partitions(chunk_rows):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows(
            (safe_cell(campaign.name), code, safe_cell(email or ""), _iso(activated_at))
            for code, email, activated_at in partition
        )
        yield buffer.getvalue().encode()


def _iso(moment: datetime | None) -> str:
    """As PostgreSQL's COPY writes it below, so both databases export the same."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


# PostgreSQL writes the CSV lines of a whole block of codes, the next block
# starting after the last id seen: one round trip per EXPORT_BLOCK_ROWS rows,
# whatever the campaign's size, and quoting as Python's csv module does.
_CSV_BLOCK = text(
    """
    SELECT max(id), string_agg(line, '')
    FROM (
        SELECT c.id,
               CASE WHEN c.used_by IS NULL
                    -- most codes: nothing to look up, quote or format
                    THEN :name || ',' || c.code || E',,\n'
                    ELSE :name || ',' || c.code || ','
                         || CASE WHEN e.cell ~ '[",\r\n]'
                                 THEN '"' || replace(e.cell, '"', '""') || '"'
                                 ELSE COALESCE(e.cell, '') END
                         || ','
                         || COALESCE(to_char(c.activated_at AT TIME ZONE 'UTC',
                                             'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '')
                         || E'\n'
               END AS line
        FROM promo_codes c LEFT JOIN users u ON u.id = c.used_by
        -- domain.exports.safe_cell: an email a spreadsheet would run as a
        -- formula gets a leading quote (an email is never a plain number).
        CROSS JOIN LATERAL (
            SELECT CASE WHEN u.email ~ E'^[-=+@\\t\\r]' THEN '''' || u.email
                        ELSE u.email END AS cell
        ) AS e
        WHERE c.campaign_id = :campaign_id AND c.id > :after
        ORDER BY c.id
        LIMIT :rows
    ) AS block
    """
)
EXPORT_BLOCK_ROWS = 20_000


async def _blocks_csv(connection: AsyncConnection, campaign: Campaign) -> AsyncIterator[bytes]:
    name = _csv_text(str(safe_cell(campaign.name)))
    after = 0
    while True:
        last, block = (
            await connection.execute(
                _CSV_BLOCK,
                {
                    "name": name,
                    "campaign_id": campaign.id,
                    "after": after,
                    "rows": EXPORT_BLOCK_ROWS,
                },
            )
        ).one()
        if last is None:
            return
        yield block.encode()
        after = last


def _csv_text(value: str) -> str:
    """One CSV field, quoted only when it must be (as the csv module does)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([value])
    return buffer.getvalue()


# --- activation ----------------------------------------------------------------------------


async def set_revoked(
    *, session: AsyncSession, campaign_id: uuid.UUID, code: str, revoked_at: datetime | None
) -> PromoCode:
    """Take one of the campaign's codes out of use (a time) or back (None),
    under a row lock: 404 for a code not of this campaign, 409 once used."""
    found = await session.scalar(
        select(PromoCode)
        .where(PromoCode.campaign_id == campaign_id, PromoCode.code == code)
        .with_for_update()
    )
    if found is None:
        raise CodeNotFound(f"No code {code!r} in this campaign.")
    if found.used_by is not None:
        raise CodeUsed(f"The code {code!r} is used: it cannot be revoked or restored.")
    if (found.revoked_at is None) != (revoked_at is None):
        found.revoked_at = revoked_at
    return found


async def why_not(
    *, connection: AsyncConnection, meant: list[str], now: datetime
) -> ActivationRefusal:
    """Why a code could not be taken: unknown or used, or its campaign is
    over; of the codes meant, the first that exists."""
    rows = (
        await connection.execute(
            select(
                PromoCode.code,
                PromoCode.used_by,
                Campaign.valid_until,
                Campaign.status,
                Campaign.is_active,
            )
            .join(Campaign, Campaign.id == PromoCode.campaign_id)
            .where(PromoCode.code.in_(meant))
        )
    ).all()
    found = min(rows, key=lambda row: meant.index(row.code), default=None)
    if found is None or found.used_by is not None or not found.is_active:
        return ActivationRefusal.INVALID
    ended = found.valid_until is not None and found.valid_until <= now
    if ended or found.status == CampaignStatus.EXPIRED:
        return ActivationRefusal.EXPIRED
    return ActivationRefusal.INVALID
