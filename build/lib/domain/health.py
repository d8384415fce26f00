"""What the worker health check reports (the workflow's output)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DatabaseProbe(BaseModel):
    dialect: str
    organizations: int


class WorkerHealth(BaseModel):
    database: DatabaseProbe
    checked_at: datetime
