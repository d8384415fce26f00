"""ORM models. Importing this package registers every table on `Base.metadata`
(Alembic and the test schema rely on it)."""

from models import (
    academies,
    access,
    accounting,
    carts,
    catalog,
    contracts,
    deep_links,
    emails,
    enrollments,
    inbound_events,
    invoices,
    orders,
    payments,
    promo_codes,
    signatures,
    subscriptions,
    users,
    vouchers,
)
from models.base import Base

__all__ = [
    "Base",
    "academies",
    "access",
    "accounting",
    "carts",
    "catalog",
    "contracts",
    "deep_links",
    "emails",
    "enrollments",
    "inbound_events",
    "invoices",
    "orders",
    "payments",
    "promo_codes",
    "signatures",
    "subscriptions",
    "users",
    "vouchers",
]
