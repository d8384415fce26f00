"""Request and response bodies of the catalogue."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field

from api.schemas.common import (
    Currency,
    InputModel,
    MoneyIn,
    MoneyOut,
    OneLine,
    OutputModel,
    RateIn,
    RateOut,
    UtcDatetime,
)
from domain.catalog import ProductType

Code = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
Title = Annotated[OneLine, Field(min_length=1, max_length=255)]
Country = Annotated[str, AfterValidator(str.upper), Field(pattern=r"^[A-Za-z]{2}$")]
Ids = Annotated[list[uuid.UUID], Field(max_length=1000)]


class Signatory(InputModel):
    name: Annotated[OneLine, Field(min_length=1, max_length=255)]
    email: EmailStr


class IssuerAddress(InputModel):
    address: Annotated[OneLine, Field(min_length=1, max_length=500)]
    postcode: Annotated[OneLine, Field(min_length=1, max_length=20)]
    city: Annotated[OneLine, Field(min_length=1, max_length=255)]
    country: Country


# An identifier printed on invoices (SIRET, VAT number).
LegalIdentifier = Annotated[OneLine, Field(min_length=1, max_length=50)]


class OrganizationCreate(InputModel):
    """The issuer fields are what its invoices print; each is optional."""

    code: Code
    title: Title
    country: Country = "FR"
    signatories: list[Signatory] = Field(default_factory=list, max_length=50)
    legal_name: Title | None = None
    address: IssuerAddress | None = None
    registration_number: LegalIdentifier | None = None
    vat_number: LegalIdentifier | None = None


class OrganizationUpdate(InputModel):
    """A change reaches the invoices issued after it, never the issued ones."""

    code: Code | None = None
    title: Title | None = None
    country: Country | None = None
    signatories: list[Signatory] | None = Field(default=None, max_length=50)
    legal_name: Title | None = None
    address: IssuerAddress | None = None
    registration_number: LegalIdentifier | None = None
    vat_number: LegalIdentifier | None = None


class OrganizationSummary(OutputModel):
    id: uuid.UUID
    code: str
    title: str


class OrganizationOut(OrganizationSummary):
    country: str
    signatories: list[dict[str, str]]
    legal_name: str | None
    address: dict[str, str] | None
    registration_number: str | None
    vat_number: str | None
    created_at: datetime
    updated_at: datetime


class CourseCreate(InputModel):
    code: Code
    title: Title
    organization_ids: Ids = Field(default_factory=list)


class CourseUpdate(InputModel):
    code: Code | None = None
    title: Title | None = None
    organization_ids: Ids | None = None


class CourseSummary(OutputModel):
    id: uuid.UUID
    code: str
    title: str


class CourseOut(CourseSummary):
    organizations: list[OrganizationSummary]
    created_at: datetime
    updated_at: datetime


class CourseRunCreate(InputModel):
    course_id: uuid.UUID
    title: Title
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None
    enrollment_start: UtcDatetime | None = None
    enrollment_end: UtcDatetime | None = None


class CourseRunUpdate(InputModel):
    title: Title | None = None
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None
    enrollment_start: UtcDatetime | None = None
    enrollment_end: UtcDatetime | None = None


class CourseRunSummary(OutputModel):
    id: uuid.UUID
    title: str
    start: datetime | None
    end: datetime | None


class CourseRunOut(CourseRunSummary):
    course_id: uuid.UUID
    enrollment_start: datetime | None
    enrollment_end: datetime | None
    created_at: datetime
    updated_at: datetime


class ProductCreate(InputModel):
    type: ProductType
    title: Title
    description: Annotated[str, Field(max_length=10_000)] = ""
    price: MoneyIn
    currency: Currency = "EUR"
    # Included in the price: 0.20 for 20 %.
    tax_rate: RateIn = Decimal("0")
    contract_required: bool = False
    target_course_run_ids: Ids = Field(default_factory=list)


class ProductUpdate(InputModel):
    """The type of a product is fixed at creation: what was sold stays what it was."""

    title: Title | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None
    price: MoneyIn | None = None
    currency: Currency | None = None
    tax_rate: RateIn | None = None
    contract_required: bool | None = None
    target_course_run_ids: Ids | None = None


class ProductOut(OutputModel):
    id: uuid.UUID
    type: ProductType
    title: str
    description: str
    price: MoneyOut
    currency: str
    tax_rate: RateOut
    contract_required: bool
    target_course_runs: list[CourseRunSummary]
    created_at: datetime
    updated_at: datetime


class OfferingCreate(InputModel):
    course_id: uuid.UUID
    product_id: uuid.UUID
    organization_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=1000)]


class OfferingUpdate(InputModel):
    """Course and product are fixed; the selling organizations can change."""

    organization_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=1000)]


class OfferingOut(OutputModel):
    id: uuid.UUID
    course: CourseSummary
    product: ProductOut
    organizations: list[OrganizationSummary]
    deep_link: str | None = Field(
        default=None,
        description="One of the offering's active CPF deep links, chosen at random; "
        "null when none is active.",
    )
    created_at: datetime
    updated_at: datetime
