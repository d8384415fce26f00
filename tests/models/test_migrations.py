"""Alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import models
from domain.orders import InstallmentState, OrderState
from models import migrate
from models.accounting import LedgerEntry
from models.base import Money, UTCDateTime
from models.invoices import Invoice, Transaction
from models.orders import Order
from models.session import create_engine, create_sessionmaker
from models.vouchers import Voucher
from tests.conftest import ROOT, create_scratch_database, drop_scratch_database


def _pending_changes(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, models.Base.metadata)


async def test_upgrade_head_matches_the_models(engine: AsyncEngine, database_url: str) -> None:
    # `database_url` was built by `alembic upgrade head` (see conftest).
    async with engine.connect() as connection:
        diff = await connection.run_sync(_pending_changes)
    assert diff == []


async def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    url = await create_scratch_database(tmp_path)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "head")
        await asyncio.to_thread(migrate.downgrade, url, "base")
        engine = create_engine(url)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        await engine.dispose()
        assert set(tables) <= {"alembic_version"}
        await asyncio.to_thread(migrate.upgrade, url, "head")
    finally:
        await drop_scratch_database(url)


async def _migrate_process(url: str) -> asyncio.subprocess.Process:
    env = {"PATH": os.environ["PATH"], "GUICHET_DATABASE_URL": url}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "migrate",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_concurrent_migrations_are_serialised(tmp_path: Path) -> None:
    """API and worker replicas all run `guichet migrate` when they start."""
    url = await create_scratch_database(tmp_path)
    try:
        runs = [await _migrate_process(url) for _ in range(6)]
        results = await asyncio.gather(*(run.communicate() for run in runs))
        for run, (_, stderr) in zip(runs, results, strict=True):
            assert run.returncode == 0, stderr.decode()
        engine = create_engine(url)
        async with engine.connect() as connection:
            diff = await connection.run_sync(_pending_changes)
        await engine.dispose()
        assert diff == []
    finally:
        await drop_scratch_database(url)


def _column_type(value: object) -> sa.types.TypeEngine | None:
    for kind, column_type in (
        (uuid.UUID, sa.Uuid()),
        (datetime, UTCDateTime()),
        (date, sa.Date()),
        (Decimal, Money()),
        (bool, sa.Boolean()),
        (list, sa.JSON()),
    ):
        if isinstance(value, kind):
            return column_type
    return None


async def _insert(connection: AsyncConnection, table_name: str, /, **values: object) -> None:
    """A row as an old revision's table holds it: only the given columns it
    has, none of the defaults the models of later revisions would add."""
    present = await connection.run_sync(
        lambda sync: {column["name"] for column in inspect(sync).get_columns(table_name)}
    )
    values = {key: value for key, value in values.items() if key in present}
    table = sa.table(
        table_name, *(sa.column(key, _column_type(value)) for key, value in values.items())
    )
    await connection.execute(sa.insert(table).values(values))


async def _offering_at(insert) -> dict[str, uuid.UUID]:
    """An offering as an older revision's tables hold it; the ids of its parts."""
    ids = {name: uuid.uuid4() for name in ("org", "course", "product", "offering", "order")}
    await insert(
        "organizations", id=ids["org"], code="ORG", title="Org", country="FR", signatories=[]
    )
    await insert("courses", id=ids["course"], code="C1", title="Course")
    await insert(
        "products",
        id=ids["product"],
        type="credential",
        title="Product",
        description="",
        price=Decimal("300.00"),
        currency="EUR",
        contract_required=False,
    )
    await insert(
        "offerings",
        id=ids["offering"],
        course_id=ids["course"],
        product_id=ids["product"],
        product_type="credential",
    )
    return ids


def _order_row(ids: dict[str, uuid.UUID], **values: object) -> dict[str, object]:
    """An order of that offering, pending payment of 300 EUR; `values` change it."""
    return {
        "offering_id": ids["offering"],
        "product_id": ids["product"],
        "course_id": ids["course"],
        "state": OrderState.PENDING_PAYMENT.value,
        "price": Decimal("300.00"),
        "discount": Decimal("0.00"),
        "total": Decimal("300.00"),
        "currency": "EUR",
        "contract_required": False,
        "is_prepaid": False,
        "has_waived_withdrawal_right": False,
        "withdrawal_days": 14,
        "language": "fr",
    } | values


async def _card_payment_at(url: str) -> uuid.UUID:
    """An installment paid, with its invoice and transaction, as a database
    at an older revision holds it (no cash-book entry before 0017); the
    installment's id."""
    ids = {name: uuid.uuid4() for name in ("paid", "main", "child")}
    engine = create_engine(url)
    async with engine.begin() as connection:
        insert = partial(_insert, connection)
        ids |= await _offering_at(insert)
        await insert("users", id="ada", email="ada@example.org", name="")
        await insert("orders", **_order_row(ids, id=ids["order"], owner_id="ada"))
        await insert(
            "installments",
            id=ids["paid"],
            order_id=ids["order"],
            position=0,
            due_date=date(2026, 12, 1),
            due_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
            attempt=0,
            amount=Decimal("100.00"),
            state=InstallmentState.PAID.value,
        )
        await insert(
            "invoices",
            id=ids["main"],
            order_id=ids["order"],
            kind="invoice",
            reference="F-1",
            total=Decimal("300.00"),
            currency="EUR",
        )
        await insert(
            "invoices",
            id=ids["child"],
            order_id=ids["order"],
            parent_id=ids["main"],
            installment_id=ids["paid"],
            kind="invoice",
            reference="F-1-I1",
            total=Decimal("100.00"),
            currency="EUR",
        )
        await insert(
            "transactions",
            id=uuid.uuid4(),
            invoice_id=ids["child"],
            kind="payment",
            reference="pi_1",
            amount=Decimal("100.00"),
            currency="EUR",
        )
    await engine.dispose()
    return ids["paid"]


async def test_card_payments_made_before_0017_are_written_into_the_cash_book(
    tmp_path: Path,
) -> None:
    url = await create_scratch_database(tmp_path)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0016")
        installment = await _card_payment_at(url)
        await asyncio.to_thread(migrate.upgrade, url, "head")
        engine = create_engine(url)
        async with create_sessionmaker(engine)() as session:
            (entry,) = (await session.scalars(select(LedgerEntry))).all()
        await engine.dispose()
        assert (entry.source, entry.method, entry.amount, entry.net_amount, entry.user_id) == (
            f"payment:{installment}",
            "card",
            Decimal("100.00"),
            Decimal("100.00"),
            "ada",
        )
    finally:
        await drop_scratch_database(url)


async def test_upgrades_that_rebuild_a_table_keep_the_rows_that_refer_to_it(
    tmp_path: Path,
) -> None:
    """SQLite rebuilds a table to change its constraints (0014 installments,
    0018 products): dropping the old one must neither cascade to the rows
    that point to it nor be refused by them."""
    url = await create_scratch_database(tmp_path)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0013")
        installment = await _card_payment_at(url)
        await asyncio.to_thread(migrate.upgrade, url, "head")
        engine = create_engine(url)
        async with create_sessionmaker(engine)() as session:
            documents = (await session.scalars(select(Invoice.reference))).all()
            paid_by = await session.scalar(
                select(Transaction.reference)
                .join(Invoice, Invoice.id == Transaction.invoice_id)
                .where(Invoice.installment_id == installment)
            )
        await engine.dispose()
        assert sorted(documents) == ["F-1", "F-1-I1"]
        assert paid_by == "pi_1"
    finally:
        await drop_scratch_database(url)


async def test_vouchers_of_prepaid_seats_made_before_0024_are_marked_as_theirs(
    tmp_path: Path,
) -> None:
    """0024 rebuilds the vouchers table (SQLite) and marks the vouchers made
    with a prepaid seat, which the vouchers administration leaves to their order."""
    url = await create_scratch_database(tmp_path)
    seat_voucher, discount_voucher, seat = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0023")
        engine = create_engine(url)
        async with engine.begin() as connection:
            insert = partial(_insert, connection)
            ids = await _offering_at(insert)
            for id, code, rate in ((seat_voucher, "SEAT", "1"), (discount_voucher, "TEN", "0.1")):
                await insert(
                    "vouchers",
                    id=id,
                    code=code,
                    discount_rate=Decimal(rate),
                    multiple_use=False,
                    multiple_users=False,
                    is_active=True,
                )
            await insert(
                "orders",
                **_order_row(
                    ids, id=seat, state="to_own", is_prepaid=True, voucher_id=seat_voucher
                ),
            )
        await engine.dispose()
        await asyncio.to_thread(migrate.upgrade, url, "head")
        engine = create_engine(url)
        async with create_sessionmaker(engine)() as session:
            marked = dict(
                (await session.execute(select(Voucher.code, Voucher.for_prepaid_seat))).all()
            )
            kept = await session.scalar(select(Order.voucher_id).where(Order.id == seat))
        await engine.dispose()
        assert marked == {"SEAT": True, "TEN": False}
        assert kept == seat_voucher
    finally:
        await drop_scratch_database(url)
