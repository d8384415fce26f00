"""Discounts and the voucher usable-by rule (spec 20, "Vouchers")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.orders import OrderState
from domain.vouchers import (
    Discount,
    UnusableVoucher,
    Validity,
    VoucherDatesOutOfOrder,
    VoucherUse,
    check_usable,
    count_uses,
    given_code,
    is_usable_by,
    normalize_code,
)

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


NOON = datetime(2027, 3, 1, 12, tzinfo=UTC)


def test_a_voucher_is_usable_between_its_dates_both_included() -> None:
    window = Validity(valid_from=NOON, valid_until=NOON + timedelta(days=1))
    assert window.refusal(at=NOON, used=0) is None
    assert window.refusal(at=NOON + timedelta(days=1), used=0) is None
    early = window.refusal(at=NOON - timedelta(seconds=1), used=0)
    late = window.refusal(at=NOON + timedelta(days=1, seconds=1), used=0)
    assert early is not None and early.details == {
        "reason": "not_yet_valid",
        "valid_from": "2027-03-01T12:00:00Z",
    }
    assert late is not None and late.details["reason"] == "expired"
    assert Validity().refusal(at=NOON, used=10**6) is None


def test_max_uses_counts_only_orders_that_count() -> None:
    capped = Validity(max_uses=2)
    uses = [
        VoucherUse(owner_id=ME, state=OrderState.COMPLETED),
        VoucherUse(owner_id=OTHER, state=OrderState.CANCELED),
        VoucherUse(owner_id=None, state=OrderState.TO_OWN),
    ]
    assert count_uses(uses) == 1
    assert capped.refusal(at=NOON, used=count_uses(uses)) is None
    full = capped.refusal(at=NOON, used=2)
    assert full is not None and full.details == {"reason": "max_uses_reached", "max_uses": 2}


def test_dates_and_cap_come_before_who_may_use_it() -> None:
    """Outside its dates, a voucher is refused for that reason to anyone,
    even to a learner who had already used it."""
    used = [VoucherUse(owner_id=ME, state=OrderState.COMPLETED)]
    rules = {"user_id": ME, "multiple_use": False, "multiple_users": False, "uses": used}
    with pytest.raises(UnusableVoucher) as over:
        check_usable(validity=Validity(valid_until=NOON), at=NOON + timedelta(1), **rules)
    assert over.value.details["reason"] == "expired"
    with pytest.raises(UnusableVoucher) as spent:
        check_usable(validity=Validity(), at=NOON, **rules)
    assert spent.value.details == {"reason": "already_used"}


def test_dates_out_of_order_are_refused() -> None:
    with pytest.raises(VoucherDatesOutOfOrder):
        Validity(valid_from=NOON, valid_until=NOON).check_dates()
    Validity(valid_from=NOON).check_dates()


@given(st.from_regex(r"[A-Za-z0-9]{1,10}([-_][A-Za-z0-9]{1,10}){0,4}", fullmatch=True))
def test_every_readable_code_is_accepted_as_typed_in_any_case(code: str) -> None:
    if len(code) < 3:
        with pytest.raises(ValueError):
            given_code(code)
        return
    accepted = given_code(f" {code.lower()} ")
    assert accepted == code.upper() == given_code(accepted)


@pytest.mark.parametrize("code", ["A B C", "ABC--D", "-ABC", "ABC_", "ÉCOLE", "A" * 65, "AB"])
def test_codes_a_learner_cannot_type_back_are_refused(code: str) -> None:
    with pytest.raises(ValueError):
        given_code(code)
