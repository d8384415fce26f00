"""Alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

import models
from domain.orders import InstallmentState, OrderState
from models import migrate
from models.accounting import LedgerEntry
from models.invoices import Invoice, Transaction
from models.orders import Installment, Order
from models.session import create_engine, create_sessionmaker
from models.users import User
from tests.conftest import ROOT, create_scratch_database, drop_scratch_database
from tests.factories import Factory


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


async def _card_payment_before_0017(url: str) -> uuid.UUID:
    """An installment paid, with its invoice and transaction, as a database
    at 0016 holds it (no cash-book entry); the installment's id."""
    engine = create_engine(url)
    factory = Factory(create_sessionmaker(engine))
    offering = await factory.offering()
    async with factory.sessionmaker.begin() as session:
        session.add(User(id="ada", email="ada@example.org"))
        await session.flush()
        order = Order(
            owner_id="ada",
            offering_id=offering.id,
            product_id=offering.product_id,
            course_id=offering.course_id,
            state=OrderState.PENDING_PAYMENT.value,
            price=Decimal("300.00"),
            total=Decimal("300.00"),
            currency="EUR",
        )
        session.add(order)
        await session.flush()
        paid = Installment(
            order_id=order.id,
            position=0,
            due_date=date(2026, 12, 1),
            due_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
            amount=Decimal("100.00"),
            state=InstallmentState.PAID.value,
        )
        main = Invoice(
            order_id=order.id, kind="invoice", reference="F-1", total=order.total, currency="EUR"
        )
        session.add_all([paid, main])
        await session.flush()
        child = Invoice(
            order_id=order.id,
            parent_id=main.id,
            installment_id=paid.id,
            kind="invoice",
            reference="F-1-I1",
            total=paid.amount,
            currency="EUR",
        )
        session.add(child)
        await session.flush()
        session.add(
            Transaction(
                invoice_id=child.id,
                kind="payment",
                reference="pi_1",
                amount=paid.amount,
                currency="EUR",
            )
        )
    await engine.dispose()
    return paid.id


async def test_card_payments_made_before_0017_are_written_into_the_cash_book(
    tmp_path: Path,
) -> None:
    url = await create_scratch_database(tmp_path)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0016")
        installment = await _card_payment_before_0017(url)
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
