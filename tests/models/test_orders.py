"""Order transitions as the repository writes them: only the steps of the
order's flow (domain.orders.ALLOWED_TRANSITIONS), each once with its event."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from domain.orders import InvalidTransition, NewOrder, OrderState
from domain.payment_schedule import SchedulePolicy
from models import orders, users
from models.orders import Order, OrderEvent
from tests.factories import Factory


async def _assigned_order(sessionmaker, factory: Factory) -> uuid.UUID:
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    product = await factory.product(price="0.00")
    offering = await factory.offering(course=course, product=product, organizations=[org])
    owner = f"learner-{uuid.uuid4().hex[:8]}"
    new = NewOrder(order_id=uuid.uuid4(), owner_id=owner, offering_id=offering.id)
    async with sessionmaker.begin() as session:
        await users.upsert_from_claims(session=session, id=owner, email=f"{owner}@x.org", name="L")
        order = await orders.create_order(session=session, new=new, policy=SchedulePolicy())
        assert order.state == OrderState.ASSIGNED.value
        return order.id


async def _events(sessionmaker, order_id: uuid.UUID) -> int:
    async with sessionmaker() as session:
        query = select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order_id)
        return int(await session.scalar(query) or 0)


async def test_a_step_outside_the_flow_is_refused_and_writes_nothing(
    sessionmaker, factory: Factory
) -> None:
    order_id = await _assigned_order(sessionmaker, factory)
    before = await _events(sessionmaker, order_id)
    with pytest.raises(InvalidTransition):
        async with sessionmaker.begin() as session:
            await orders.record_transition(
                session=session,
                order_id=order_id,
                from_state=OrderState.ASSIGNED,
                to_state=OrderState.REFUNDED,
                event="shortcut",
            )
    async with sessionmaker() as session:
        assert await session.scalar(select(Order.state).where(Order.id == order_id)) == "assigned"
    assert await _events(sessionmaker, order_id) == before


async def test_a_step_of_the_flow_is_written_once(sessionmaker, factory: Factory) -> None:
    order_id = await _assigned_order(sessionmaker, factory)
    before = await _events(sessionmaker, order_id)
    for expected in (True, False):  # a retried activity changes nothing
        async with sessionmaker.begin() as session:
            moved = await orders.record_transition(
                session=session,
                order_id=order_id,
                from_state=OrderState.ASSIGNED,
                to_state=OrderState.COMPLETED,
                event="created",
            )
        assert moved is expected
    assert await _events(sessionmaker, order_id) == before + 1
