"""ORM models. Importing this package registers every table on `Base.metadata`
(Alembic and the test schema rely on it)."""

from models import catalog, deep_links, users
from models.base import Base

__all__ = ["Base", "catalog", "deep_links", "users"]
