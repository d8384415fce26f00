"""Catalogue objects for tests, written through the repositories (so they obey
the same rules as the API) and committed, so the API under test sees them."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import codes
from domain.catalog import ProductType
from models import catalog, users
from models.catalog import Course, CourseRun, Offering, Organization, Product
from models.deep_links import OfferingDeepLink
from models.promo_codes import Campaign
from models.vouchers import Voucher
from services import deep_links

_sequence = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_sequence)}-{uuid.uuid4().hex[:6]}"


class Factory:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def organization(self, **fields: object) -> Organization:
        values = {
            "code": unique("ORG"),
            "title": "Organization",
            "country": "FR",
            "signatories": [{"name": "Signer", "email": "signer@example.org"}],
        } | fields
        async with self.sessionmaker.begin() as session:
            return await catalog.save_organization(
                session=session, organization=Organization(**values)
            )

    async def course(
        self, *, organizations: Sequence[Organization] = (), **fields: object
    ) -> Course:
        values = {"code": unique("COURSE"), "title": "Course"} | fields
        async with self.sessionmaker.begin() as session:
            return await catalog.save_course(
                session=session,
                course=Course(**values),
                organization_ids=[item.id for item in organizations],
            )

    async def course_run(self, *, course: Course | None = None, **fields: object) -> CourseRun:
        course = course or await self.course()
        start = datetime.now(UTC) + timedelta(days=30)
        values = {"title": "Run", "start": start, "end": start + timedelta(days=60)} | fields
        async with self.sessionmaker.begin() as session:
            return await catalog.save_course_run(
                session=session, course_run=CourseRun(course_id=course.id, **values)
            )

    async def product(
        self,
        *,
        type: ProductType = ProductType.CREDENTIAL,
        price: str = "450.00",
        target_course_runs: Sequence[CourseRun] = (),
        **fields: object,
    ) -> Product:
        values = {
            "title": unique("Product"),
            "currency": "EUR",
            "contract_required": False,
        } | fields
        async with self.sessionmaker.begin() as session:
            return await catalog.save_product(
                session=session,
                product=Product(type=type.value, price=Decimal(price), **values),
                target_course_run_ids=[item.id for item in target_course_runs],
            )

    async def offering(
        self,
        *,
        course: Course | None = None,
        product: Product | None = None,
        product_type: ProductType = ProductType.CREDENTIAL,
        organizations: Sequence[Organization] | None = None,
    ) -> Offering:
        if organizations is None:
            organizations = [await self.organization()]
        course = course or await self.course(organizations=organizations)
        product = product or await self.product(type=product_type)
        async with self.sessionmaker.begin() as session:
            return await catalog.create_offering(
                session=session,
                course_id=course.id,
                product_id=product.id,
                organization_ids=[item.id for item in organizations],
            )

    async def voucher(
        self,
        *,
        code: str | None = None,
        rate: str | None = None,
        amount: str | None = None,
        offering: Offering | None = None,
        multiple_use: bool = False,
        multiple_users: bool = False,
    ) -> Voucher:
        async with self.sessionmaker.begin() as session:
            voucher = Voucher(
                code=(code or unique("VOUCHER")).upper(),
                discount_rate=Decimal(rate) if rate else None,
                discount_amount=Decimal(amount) if amount else None,
                offering_id=offering.id if offering else None,
                multiple_use=multiple_use,
                multiple_users=multiple_users,
            )
            session.add(voucher)
        return voucher

    async def deep_link(
        self,
        *,
        offering: Offering,
        organization: Organization,
        is_active: bool = True,
        url: str | None = None,
    ) -> OfferingDeepLink:
        async with self.sessionmaker.begin() as session:
            return await deep_links.create_link(
                session=session,
                offering_id=offering.id,
                organization_id=organization.id,
                deep_link=url or f"https://www.moncompteformation.gouv.fr/f/{unique('link')}",
                is_active=is_active,
            )

    async def campaign(
        self, *, name: str, count: int, client_code: str = "T", **fields: object
    ) -> Campaign:
        """A promo-code campaign written directly (no workflow, no codes yet),
        for a membership product and a creator made for it."""
        product = await self.product(type=ProductType.MEMBERSHIP, price="9.00")
        async with self.sessionmaker.begin() as session:
            creator = unique("maker")
            await users.upsert_from_claims(session=session, id=creator, email="", name="")
            campaign = Campaign(
                name=name,
                client_code=client_code,
                code_prefix=codes.prefix(client_code=client_code, campaign_name=name),
                valid_until=datetime.now(UTC) + timedelta(days=1),
                product_id=product.id,
                codes_count=count,
                code_length=codes.DEFAULT_LENGTH,
                created_by=creator,
                **fields,
            )
            session.add(campaign)
        return campaign
