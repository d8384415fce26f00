"""Member-site carts: states, tariffs, and the answers the existing client reads."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import Conflict, NotFound, error_class

CartNotFound = error_class(NotFound, "cart_not_found")
PaymentRequired = error_class(Conflict, "payment_required")
CartEmpty = error_class(Conflict, "cart_empty")
CartLineNotFound = error_class(NotFound, "cart_line_not_found")
# A validated cart keeps its lines: what it gave is the member's.
CartValidated = error_class(Conflict, "cart_validated")

# The e-venement client matches these sentences: do not reword them.
LOGIN_REQUIRED = "You need to be identified, please login"
ACTIVATION_SUCCEEDED = "Activation Succeeded"
ACTIVATION_FAILED = "Activation Failed"
CART_NOT_FOUND = "Cart not found"
TOO_MANY_ATTEMPTS = "Too many attempts, please retry later"
NOTHING_TO_PAY = "NothingToPay"


class CartState(StrEnum):
    OPEN = "open"
    VALIDATED = "validated"


class Tariff(StrEnum):
    STANDARD = "standard"
    PROMO_CODE = "promo_code"


class PaymentMethod(StrEnum):
    """How the cash book says a line was paid."""

    PROMO_CODE = "promo_code"
    CARD = "card"
