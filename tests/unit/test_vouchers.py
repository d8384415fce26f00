"""Discounts and the voucher usable-by rule (spec 20, "Vouchers")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.orders import OrderState
from domain.vouchers import Discount, VoucherUse, is_usable_by, normalize_code

ME, OTHER = "me", "other"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"rate": "0.5", "amount": "10.00"},
        {"rate": "0"},
        {"rate": "1.01"},
        {"amount": "0"},
        {"amount": "-5.00"},
        {"amount": "1.001"},
    ],
)
def test_a_discount_is_exactly_one_valid_rate_or_amount(fields: dict) -> None:
    with pytest.raises(ValidationError):
        Discount(**fields)


def test_what_a_discount_takes_off() -> None:
    assert Discount(rate=Decimal("0.2")).taken_off(Decimal("450.00")) == Decimal("90.00")
    assert Discount(rate=Decimal("0.333")).taken_off(Decimal("100.00")) == Decimal("33.30")
    assert Discount(amount=Decimal("50.00")).taken_off(Decimal("450.00")) == Decimal("50.00")
    assert Discount(amount=Decimal("500.00")).taken_off(Decimal("450.00")) == Decimal("450.00")
    assert Discount(rate=Decimal("1")).is_full
    assert not Discount(rate=Decimal("0.99")).is_full


@given(
    price=st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=1, places=4),
)
def test_a_discount_never_exceeds_the_price(price: Decimal, rate: Decimal) -> None:
    taken = Discount(rate=rate).taken_off(price)
    assert Decimal("0") <= taken <= price


def test_codes_are_case_and_space_insensitive() -> None:
    assert normalize_code("  abc-12x ") == "ABC-12X"


def uses(*pairs: tuple[str | None, OrderState]) -> list[VoucherUse]:
    return [VoucherUse(owner_id=owner, state=state) for owner, state in pairs]


ACTIVE = OrderState.PENDING
INACTIVE = OrderState.CANCELED


@pytest.mark.parametrize(
    ("multiple_use", "multiple_users", "history", "usable"),
    [
        # Neither flag: single use by a single user.
        (False, False, [], True),
        (False, False, [(ME, ACTIVE)], False),
        (False, False, [(OTHER, ACTIVE)], False),
        (False, False, [(OTHER, INACTIVE)], True),
        (False, False, [(None, OrderState.TO_OWN)], True),
        (False, False, [(OTHER, OrderState.REFUNDED), (ME, OrderState.REFUNDING)], True),
        # multiple_use only: one user, many times.
        (True, False, [(ME, ACTIVE), (ME, OrderState.COMPLETED)], True),
        (True, False, [(OTHER, ACTIVE)], False),
        (True, False, [(OTHER, INACTIVE)], True),
        # multiple_users only: many users, once each.
        (False, True, [(OTHER, ACTIVE)], True),
        (False, True, [(ME, ACTIVE)], False),
        (False, True, [(ME, INACTIVE), (OTHER, ACTIVE)], True),
        # Both: always.
        (True, True, [(ME, ACTIVE), (OTHER, ACTIVE)], True),
    ],
)
def test_usable_by(multiple_use: bool, multiple_users: bool, history: list, usable: bool) -> None:
    assert (
        is_usable_by(
            user_id=ME,
            multiple_use=multiple_use,
            multiple_users=multiple_users,
            uses=uses(*history),
        )
        is usable
    )
