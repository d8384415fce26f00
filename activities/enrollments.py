"""Enrollments follow orders: granted when an order is paid for (or complete),
revoked when it is canceled or refunded; the LMS is told each time."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.failures import raises_domain_errors
from domain.catalog import PRODUCT_TYPES_WITH_TARGET_RUNS, ProductType
from domain.orders import ENROLLING_STATES, OrderState
from integrations import lms
from models import catalog, enrollments, orders
from models.catalog import Product
from settings import Settings


class EnrollmentActivities:
    def __init__(
        self, *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings

    async def _tell_lms(self, *, user_id: str, course_run_ids: list[str], active: bool) -> None:
        if not self._settings.lms_webhook_url or not course_run_ids:
            return
        await lms.notify(
            url=str(self._settings.lms_webhook_url),
            secret=self._settings.lms_webhook_secret.get_secret_value(),
            payload={"user": user_id, "course_runs": course_run_ids, "is_active": active},
        )

    @activity.defn(name="enrollments.grant")
    @raises_domain_errors
    async def grant(self, order_id: uuid.UUID) -> list[str]:
        """Enroll the owner of an order paid for. It runs apart from the
        order's progress (and is retried while the LMS is down): an order
        canceled or refunded meanwhile grants nothing, and the order's row is
        locked so a revoke cannot slip between this check and the write."""
        async with self._sessionmaker.begin() as session:
            order = await orders.get_order(session=session, id=order_id, for_update=True)
            if OrderState(order.state) not in ENROLLING_STATES:
                return []
            product = await catalog.get(session=session, model=Product, id=order.product_id)
            if ProductType(product.type) not in PRODUCT_TYPES_WITH_TARGET_RUNS:
                return []
            runs = [run.id for run in product.target_course_runs]
            assert order.owner_id is not None
            await enrollments.grant(
                session=session, user_id=order.owner_id, course_run_ids=runs, order_id=order.id
            )
            owner = order.owner_id
        granted = [str(run) for run in runs]
        await self._tell_lms(user_id=owner, course_run_ids=granted, active=True)
        return granted

    @activity.defn(name="enrollments.suspend")
    @raises_domain_errors
    async def suspend(self, order_id: uuid.UUID) -> list[str]:
        """Deactivate an order's enrollments while it is suspended. Apart like
        the grant: an order paid up meanwhile (no longer suspended) keeps its
        access, and the row lock orders this check against the grant's."""
        async with self._sessionmaker.begin() as session:
            order = await orders.get_order(session=session, id=order_id, for_update=True)
            if order.suspended_at is None:
                return []
            touched = await enrollments.revoke(session=session, order_id=order_id)
        suspended = [str(item.course_run_id) for item in touched]
        if order.owner_id:
            await self._tell_lms(user_id=order.owner_id, course_run_ids=suspended, active=False)
        return suspended

    @activity.defn(name="enrollments.revoke")
    @raises_domain_errors
    async def revoke(self, order_id: uuid.UUID) -> list[str]:
        async with self._sessionmaker.begin() as session:
            order = await orders.get_order(session=session, id=order_id)
            touched = await enrollments.revoke(session=session, order_id=order_id)
        revoked = [str(item.course_run_id) for item in touched]
        if order.owner_id:
            await self._tell_lms(user_id=order.owner_id, course_run_ids=revoked, active=False)
        return revoked
