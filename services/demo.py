"""A small demo catalogue for the embedded stack, written through the same
repository functions as the API so every rule applies to it too."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import ProductType
from models import catalog
from models.base import utcnow
from models.catalog import Course, CourseRun, Organization, Product
from services import deep_links

MCF = "https://www.moncompteformation.gouv.fr/espace-prive/html/#/formation/recherche"


async def is_empty(session: AsyncSession) -> bool:
    return not await session.scalar(select(func.count()).select_from(Organization))


async def _organizations(session: AsyncSession) -> dict[str, Organization]:
    rows = {
        "UNIV-LYON": (
            "Université de Lyon",
            [{"name": "Claire Martin", "email": "claire.martin@univ-lyon.example"}],
        ),
        "ECOLE-NUM": (
            "École du Numérique",
            [{"name": "Karim Benali", "email": "karim.benali@ecole-num.example"}],
        ),
    }
    # What their invoices print (example identifiers, not real ones).
    issuers = {
        "UNIV-LYON": {
            "legal_name": "Université de Lyon (exemple)",
            "address": {
                "address": "92 rue Pasteur",
                "postcode": "69007",
                "city": "Lyon",
                "country": "FR",
            },
        },
        "ECOLE-NUM": {
            "legal_name": "École du Numérique SAS (exemple)",
            "address": {
                "address": "10 rue de l'Exemple",
                "postcode": "75011",
                "city": "Paris",
                "country": "FR",
            },
            "registration_number": "000 000 000 00000",
            "vat_number": "FR00000000000",
        },
    }
    made = {}
    for code, (title, signatories) in rows.items():
        organization = Organization(
            code=code, title=title, country="FR", signatories=signatories, **issuers[code]
        )
        made[code] = await catalog.save_organization(session=session, organization=organization)
    return made


async def _courses(
    session: AsyncSession, organizations: dict[str, Organization]
) -> dict[str, tuple[Course, CourseRun]]:
    rows = {
        "PY-101": ("Python pour l'analyse de données", ["UNIV-LYON", "ECOLE-NUM"]),
        "WEB-201": ("Développement web moderne", ["ECOLE-NUM"]),
        "MGMT-301": ("Management de projet agile", ["UNIV-LYON"]),
    }
    start = utcnow().replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=30)
    made = {}
    for code, (title, organization_codes) in rows.items():
        course = await catalog.save_course(
            session=session,
            course=Course(code=code, title=title),
            organization_ids=[organizations[item].id for item in organization_codes],
        )
        run = CourseRun(
            course_id=course.id,
            title=f"{title} — session 1",
            start=start,
            end=start + timedelta(days=90),
            # Opened well before today whatever the hour: `start` is rounded
            # to 09:00, so start - 30 days was later today before 09:00 UTC.
            enrollment_start=start - timedelta(days=60),
            enrollment_end=start - timedelta(days=2),
        )
        made[code] = (course, await catalog.save_course_run(session=session, course_run=run))
    return made


async def _product(
    session: AsyncSession,
    *,
    type: ProductType,
    title: str,
    price: str,
    contract_required: bool = False,
    runs: list[CourseRun] | None = None,
) -> Product:
    product = Product(
        type=type.value,
        title=title,
        description=f"{title} (démo).",
        price=Decimal(price),
        currency="EUR",
        contract_required=contract_required,
    )
    return await catalog.save_product(
        session=session, product=product, target_course_run_ids=[run.id for run in runs or []]
    )


async def seed_demo(session: AsyncSession) -> bool:
    """Fill an empty catalogue; leaves a non-empty one alone. True if seeded."""
    if not await is_empty(session):
        return False
    organizations = await _organizations(session)
    courses = await _courses(session, organizations)
    python_credential = await _product(
        session,
        type=ProductType.CREDENTIAL,
        title="Certificat Python data",
        price="450.00",
        contract_required=True,
        runs=[courses["PY-101"][1]],
    )
    agile_credential = await _product(
        session,
        type=ProductType.CREDENTIAL,
        title="Certificat Management agile",
        price="1200.00",
        contract_required=True,
        runs=[courses["MGMT-301"][1]],
    )
    web_enrollment = await _product(
        session,
        type=ProductType.ENROLLMENT,
        title="Parcours développeur web",
        price="990.00",
        runs=[courses["WEB-201"][1]],
    )
    attestation = await _product(
        session, type=ProductType.CERTIFICATE, title="Attestation de réussite", price="29.00"
    )
    await _product(session, type=ProductType.MEMBERSHIP, title="Adhésion annuelle", price="120.00")

    def ids(*codes: str) -> list:
        return [organizations[code].id for code in codes]

    async def offer(course: str, product: Product, *codes: str):
        return await catalog.create_offering(
            session=session,
            course_id=courses[course][0].id,
            product_id=product.id,
            organization_ids=ids(*codes),
        )

    python = await offer("PY-101", python_credential, "UNIV-LYON", "ECOLE-NUM")
    agile = await offer("MGMT-301", agile_credential, "UNIV-LYON")
    await offer("WEB-201", web_enrollment, "ECOLE-NUM")
    await offer("PY-101", attestation, "UNIV-LYON", "ECOLE-NUM")

    links = [
        (python, "UNIV-LYON", f"{MCF}/19850035400011_PY101/19850035400011_PY101-LYON", True),
        (python, "ECOLE-NUM", f"{MCF}/88234519100024_PY101/88234519100024_PY101-NUM", True),
        (agile, "UNIV-LYON", f"{MCF}/19850035400011_MGMT301/19850035400011_MGMT301", False),
    ]
    for offering, code, url, active in links:
        await deep_links.create_link(
            session=session,
            offering_id=offering.id,
            organization_id=organizations[code].id,
            deep_link=url,
            is_active=active,
        )
    return True
