"""ORM models. Importing this package registers every table on `Base.metadata`
(Alembic and the test schema rely on it)."""

from models import (
    catalog,
    contracts,
    deep_links,
    emails,
    enrollments,
    inbound_events,
    orders,
    payments,
    signatures,
    users,
    vouchers,
)
from models.base import Base

__all__ = [
    "Base",
    "catalog",
    "contracts",
    "deep_links",
    "emails",
    "enrollments",
    "inbound_events",
    "orders",
    "payments",
    "signatures",
    "users",
    "vouchers",
]
