"""Catalogue: organizations, courses, course runs, products, offerings.

Offerings copy their product's type (`product_type`) under a composite foreign
key to `products (id, type)`: this lets other tables (deep links) hold a rule on
the product type with a plain constraint that SQLite and PostgreSQL both enforce.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship, selectinload

from domain.catalog import (
    InUse,
    ProductType,
    check_course_run_dates,
    check_target_runs,
    quantize_money,
)
from domain.errors import Conflict, DomainError, NotFound, error_class
from domain.invoices import Issuer
from models.base import Base, Money, Rate, TimestampMixin, UTCDateTime, new_id

T = TypeVar("T", bound=Base)

PRODUCT_TYPES_SQL = ", ".join(f"'{item.value}'" for item in ProductType)

course_organizations = Table(
    "course_organizations",
    Base.metadata,
    Column("course_id", ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("organization_id", ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True),
)

offering_organizations = Table(
    "offering_organizations",
    Base.metadata,
    Column("offering_id", ForeignKey("offerings.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "organization_id",
        ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

product_target_course_runs = Table(
    "product_target_course_runs",
    Base.metadata,
    Column("product_id", ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "course_run_id",
        ForeignKey("course_runs.id", ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    ),
)


class Organization(TimestampMixin, Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    country: Mapped[str] = mapped_column(String(2), default="FR")
    # People who sign contracts for the organization: [{"name", "email"}].
    signatories: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # What its invoices print about it, each optional.
    legal_name: Mapped[str | None] = mapped_column(String(255))
    # {"address", "postcode", "city", "country"}
    address: Mapped[dict[str, str] | None] = mapped_column(JSON)
    registration_number: Mapped[str | None] = mapped_column(String(50))
    vat_number: Mapped[str | None] = mapped_column(String(50))

    def as_issuer(self) -> Issuer:
        return Issuer(
            code=self.code,
            title=self.title,
            legal_name=self.legal_name,
            address=self.address,
            registration_number=self.registration_number,
            vat_number=self.vat_number,
        )


class Course(TimestampMixin, Base):
    __tablename__ = "courses"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(255))

    organizations: Mapped[list[Organization]] = relationship(
        secondary=course_organizations, lazy="raise", order_by=Organization.code
    )


class CourseRun(TimestampMixin, Base):
    __tablename__ = "course_runs"
    __table_args__ = (
        CheckConstraint('"start" IS NULL OR "end" IS NULL OR "start" <= "end"', name="dates"),
        CheckConstraint(
            "enrollment_start IS NULL OR enrollment_end IS NULL "
            "OR enrollment_start <= enrollment_end",
            name="enrollment_dates",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(255))
    start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enrollment_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enrollment_end: Mapped[datetime | None] = mapped_column(UTCDateTime())

    course: Mapped[Course] = relationship(lazy="raise")


class Product(TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint(f"type IN ({PRODUCT_TYPES_SQL})", name="type"),
        CheckConstraint("price >= 0", name="price_positive"),
        CheckConstraint("length(currency) = 3", name="currency"),
        # SQLite holds it scaled (0.2 as 2000): below 1 is the API's rule.
        CheckConstraint("tax_rate >= 0", name="tax_rate"),
        # Target of the offerings' (product_id, product_type) foreign key.
        UniqueConstraint("id", "type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # Included in the price (0.2 for 20 %): invoices show it apart.
    tax_rate: Mapped[Decimal] = mapped_column(Rate(), default=Decimal("0"))
    contract_required: Mapped[bool] = mapped_column(Boolean, default=False)

    target_course_runs: Mapped[list[CourseRun]] = relationship(
        secondary=product_target_course_runs, lazy="raise", order_by=CourseRun.start
    )


class Offering(TimestampMixin, Base):
    __tablename__ = "offerings"
    __table_args__ = (
        UniqueConstraint("course_id", "product_id"),
        # Target of the deep links' (offering_id, product_type) foreign key.
        UniqueConstraint("id", "product_type"),
        ForeignKeyConstraint(
            ["product_id", "product_type"],
            ["products.id", "products.type"],
            name="fk_offerings_product_type",
            ondelete="RESTRICT",
            onupdate="CASCADE",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    course_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("courses.id", ondelete="RESTRICT"), index=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(index=True)
    product_type: Mapped[str] = mapped_column(String(20))

    course: Mapped[Course] = relationship(lazy="raise")
    product: Mapped[Product] = relationship(
        lazy="raise", foreign_keys=[product_id], primaryjoin="Offering.product_id == Product.id"
    )
    organizations: Mapped[list[Organization]] = relationship(
        secondary=offering_organizations, lazy="raise", order_by=Organization.code
    )


# --- repository -------------------------------------------------------------

OrganizationNotFound = error_class(NotFound, "organization_not_found")
CourseNotFound = error_class(NotFound, "course_not_found")
CourseRunNotFound = error_class(NotFound, "course_run_not_found")
ProductNotFound = error_class(NotFound, "product_not_found")
OfferingNotFound = error_class(NotFound, "offering_not_found")
OrganizationCodeExists = error_class(Conflict, "organization_code_exists")
CourseCodeExists = error_class(Conflict, "course_code_exists")
OfferingExists = error_class(Conflict, "offering_exists")
OrganizationHasDeepLink = error_class(Conflict, "organization_has_deep_link")

NOT_FOUND_ERRORS: dict[type[Base], type[DomainError]] = {
    Organization: OrganizationNotFound,
    Course: CourseNotFound,
    CourseRun: CourseRunNotFound,
    Product: ProductNotFound,
    Offering: OfferingNotFound,
}


def _label(model: type[Base]) -> str:
    return model.__tablename__.removesuffix("s").replace("_", " ")


def loading_query(model: type[T]) -> Select[tuple[T]]:
    """The query that loads a model with the relations its API shape shows."""
    options: dict[type[Base], tuple[Any, ...]] = {
        Course: (selectinload(Course.organizations),),
        Product: (selectinload(Product.target_course_runs),),
        # Joined where one row each (course, product): fewer round trips on
        # the order path, which loads an offering twice per creation.
        Offering: (
            joinedload(Offering.course),
            joinedload(Offering.product).selectinload(Product.target_course_runs),
            selectinload(Offering.organizations),
        ),
    }
    return select(model).options(*options.get(model, ()))


async def get(*, session: AsyncSession, model: type[T], id: uuid.UUID) -> T:
    query = loading_query(model).where(model.id == id)  # type: ignore[attr-defined]
    found = (await session.scalars(query)).one_or_none()
    if found is None:
        raise NOT_FOUND_ERRORS[model](f"No {_label(model)} with id {id}.")
    return found


async def get_many(*, session: AsyncSession, model: type[T], ids: Sequence[uuid.UUID]) -> list[T]:
    """The rows for `ids` in the given order, or a 404 naming the missing ones."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    query = loading_query(model).where(model.id.in_(wanted))  # type: ignore[attr-defined]
    by_id = {row.id: row for row in (await session.scalars(query)).all()}  # type: ignore[attr-defined]
    missing = [str(item) for item in wanted if item not in by_id]
    if missing:
        raise NOT_FOUND_ERRORS[model](f"Unknown {_label(model)} ids.", details={"ids": missing})
    return [by_id[item] for item in wanted]


async def list_page(
    *, session: AsyncSession, query: Select[tuple[T]], offset: int, limit: int
) -> tuple[int, list[T]]:
    count = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.scalars(query.offset(offset).limit(limit))).all()
    return int(count or 0), list(rows)


async def flush_checked(*, session: AsyncSession, checks: Callable[[], Awaitable[None]]) -> None:
    """Flush in a savepoint. The checks ran before with a precise error; if a
    concurrent writer won the race the flush fails, and running them again now
    names the conflict instead of a bare integrity error."""
    await checks()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        await checks()
        raise Conflict("This change conflicts with existing records.") from None


async def delete_row(*, session: AsyncSession, row: Base) -> None:
    """Delete, or 409 `in_use` when other rows still point at it."""
    table = row.__table__  # type: ignore[attr-defined]
    try:
        async with session.begin_nested():
            await session.execute(delete(table).where(table.c.id == row.id))  # type: ignore[attr-defined]
    except IntegrityError:
        raise InUse(f"This {_label(type(row))} is still used by other records.") from None
    session.expunge(row)


async def _code_taken(
    *,
    session: AsyncSession,
    model: type[Organization] | type[Course],
    code: str,
    own_id: uuid.UUID | None,
) -> bool:
    query = select(model.id).where(model.code == code)
    if own_id is not None:
        query = query.where(model.id != own_id)
    return (await session.scalar(query)) is not None


def _unique_code_check(
    session: AsyncSession, model: type[Organization] | type[Course], row: Organization | Course
) -> Callable[[], Awaitable[None]]:
    error = OrganizationCodeExists if model is Organization else CourseCodeExists

    async def check() -> None:
        if await _code_taken(session=session, model=model, code=row.code, own_id=row.id):
            raise error(f"The code {row.code!r} is already used by another {_label(model)}.")

    return check


async def save_organization(*, session: AsyncSession, organization: Organization) -> Organization:
    """Insert or update; the code is unique."""
    if organization.id is None:
        organization.id = new_id()
    session.add(organization)
    await flush_checked(
        session=session, checks=_unique_code_check(session, Organization, organization)
    )
    return organization


async def save_course(
    *, session: AsyncSession, course: Course, organization_ids: Sequence[uuid.UUID] | None
) -> Course:
    if course.id is None:
        course.id = new_id()
        course.organizations = []
    if organization_ids is not None:
        course.organizations = await get_many(
            session=session, model=Organization, ids=organization_ids
        )
    session.add(course)
    await flush_checked(session=session, checks=_unique_code_check(session, Course, course))
    return course


async def save_course_run(*, session: AsyncSession, course_run: CourseRun) -> CourseRun:
    check_course_run_dates(
        start=course_run.start,
        end=course_run.end,
        enrollment_start=course_run.enrollment_start,
        enrollment_end=course_run.enrollment_end,
    )
    await get(session=session, model=Course, id=course_run.course_id)
    session.add(course_run)
    await session.flush()
    return course_run


async def save_product(
    *, session: AsyncSession, product: Product, target_course_run_ids: Sequence[uuid.UUID] | None
) -> Product:
    product.price = quantize_money(product.price)
    if product.id is None:
        product.id = new_id()
        product.target_course_runs = []
    if target_course_run_ids is not None:
        check_target_runs(ProductType(product.type), len(target_course_run_ids))
        product.target_course_runs = await get_many(
            session=session, model=CourseRun, ids=target_course_run_ids
        )
    session.add(product)
    await session.flush()
    return product


async def create_offering(
    *,
    session: AsyncSession,
    course_id: uuid.UUID,
    product_id: uuid.UUID,
    organization_ids: Sequence[uuid.UUID],
) -> Offering:
    course = await get(session=session, model=Course, id=course_id)
    product = await get(session=session, model=Product, id=product_id)
    offering = Offering(
        id=new_id(),
        course=course,
        product=product,
        product_type=product.type,
        organizations=await get_many(session=session, model=Organization, ids=organization_ids),
    )
    session.add(offering)

    async def check() -> None:
        query = select(Offering.id).where(
            Offering.course_id == course_id, Offering.product_id == product_id
        )
        if (await session.scalar(query)) not in (None, offering.id):
            raise OfferingExists("This course already has an offering for this product.")

    await flush_checked(session=session, checks=check)
    return offering


async def set_offering_organizations(
    *, session: AsyncSession, offering: Offering, organization_ids: Sequence[uuid.UUID]
) -> Offering:
    """Replace the organizations. The database refuses to drop one that still
    has a deep link on this offering (see models/deep_links.py)."""
    offering.organizations = await get_many(
        session=session, model=Organization, ids=organization_ids
    )
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise OrganizationHasDeepLink(
            "An organization with a deep link on this offering cannot be removed from it; "
            "delete its deep link first."
        ) from None
    return offering


def search_offerings(
    *, query: str | None, course_code: str | None, product_type: ProductType | None
) -> Select[tuple[Offering]]:
    statement = (
        loading_query(Offering)
        .join(Offering.course)
        .join(Offering.product)
        .order_by(Course.code, Product.title, Offering.id)
    )
    if query:
        statement = statement.where(
            or_(
                Product.title.icontains(query, autoescape=True),
                Course.title.icontains(query, autoescape=True),
                Course.code.icontains(query, autoescape=True),
            )
        )
    if course_code:
        statement = statement.where(Course.code == course_code)
    if product_type:
        statement = statement.where(Offering.product_type == product_type.value)
    return statement
