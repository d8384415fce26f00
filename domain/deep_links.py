"""CPF deep links: who may register one, what a link looks like, which one to serve."""

from __future__ import annotations

import random
from collections.abc import Sequence
from urllib.parse import urlsplit

from domain.catalog import OrganizationNotInOffering, ProductType
from domain.errors import BadRequest, Conflict, error_class

MAX_DEEP_LINK_LENGTH = 400
ALLOWED_SCHEMES = frozenset({"http", "https"})

OfferingNotCredential = error_class(BadRequest, "offering_not_credential")
InvalidDeepLink = error_class(BadRequest, "invalid_deep_link")
DeepLinkExists = error_class(Conflict, "deep_link_exists")
DeepLinkNotUnique = error_class(Conflict, "deep_link_not_unique")
DeepLinkActive = error_class(Conflict, "deep_link_active")


def normalize_deep_link(raw: str) -> str:
    """Trim the URL and check it is an absolute http(s) link the learner can follow."""
    url = raw.strip()
    if not url:
        raise InvalidDeepLink("The deep link must not be empty.")
    if len(url) > MAX_DEEP_LINK_LENGTH:
        raise InvalidDeepLink(f"The deep link is longer than {MAX_DEEP_LINK_LENGTH} characters.")
    if any(char.isspace() for char in url):
        raise InvalidDeepLink("The deep link must not contain spaces.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        raise InvalidDeepLink("The deep link must be an absolute http or https URL.")
    return url


def check_can_attach(
    *,
    product_type: ProductType,
    organization_id: object,
    offering_organization_ids: set[object],
) -> None:
    if product_type is not ProductType.CREDENTIAL:
        raise OfferingNotCredential("Only offerings of a credential product accept deep links.")
    if organization_id not in offering_organization_ids:
        raise OrganizationNotInOffering(
            "The organization is not one of the offering's organizations."
        )


def check_can_delete(*, is_active: bool) -> None:
    if is_active:
        raise DeepLinkActive("An active deep link cannot be deleted; deactivate it first.")


def choose_link(active_links: Sequence[str]) -> str | None:
    """Spread learners evenly over the organizations that sell the offering.
    Uniform, not secret: whoever knows which link comes next gains nothing,
    and the system generator's syscall was a tenth of a served deep link."""
    if not active_links:
        return None
    return random.choice(active_links)  # noqa: S311 - see above
