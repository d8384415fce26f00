"""Pure rules of CPF deep links."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalog import OrganizationNotInOffering, ProductType
from domain.deep_links import (
    MAX_DEEP_LINK_LENGTH,
    DeepLinkActive,
    InvalidDeepLink,
    OfferingNotCredential,
    check_can_attach,
    check_can_delete,
    choose_link,
    normalize_deep_link,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://example.org/a?b=c#d", "https://example.org/a?b=c#d"),
        ("  http://example.org  ", "http://example.org"),
        ("HTTPS://Example.org/Path", "HTTPS://Example.org/Path"),
    ],
)
def test_valid_links_are_trimmed_not_rewritten(raw: str, expected: str) -> None:
    assert normalize_deep_link(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "ftp://example.org",
        "mailto:a@b.c",
        "//example.org/x",
        "https:///path",
        "https://exa mple.org",
        "data:text/html,hi",
    ],
)
def test_invalid_links(raw: str) -> None:
    with pytest.raises(InvalidDeepLink):
        normalize_deep_link(raw)


def test_length_limit_is_inclusive() -> None:
    base = "https://example.org/"
    assert normalize_deep_link(base + "x" * (MAX_DEEP_LINK_LENGTH - len(base)))
    with pytest.raises(InvalidDeepLink):
        normalize_deep_link(base + "x" * (MAX_DEEP_LINK_LENGTH - len(base) + 1))


@given(st.text(max_size=500))
def test_normalize_accepts_only_short_absolute_http_urls(raw: str) -> None:
    try:
        url = normalize_deep_link(raw)
    except InvalidDeepLink:
        return
    assert len(url) <= MAX_DEEP_LINK_LENGTH
    assert url.lower().startswith(("http://", "https://"))
    assert not any(char.isspace() for char in url)


@pytest.mark.parametrize(
    "product_type", [t for t in ProductType if t is not ProductType.CREDENTIAL]
)
def test_only_credentials_accept_links(product_type: ProductType) -> None:
    org = uuid.uuid4()
    with pytest.raises(OfferingNotCredential):
        check_can_attach(
            product_type=product_type, organization_id=org, offering_organization_ids={org}
        )


def test_organization_must_be_on_the_offering() -> None:
    with pytest.raises(OrganizationNotInOffering):
        check_can_attach(
            product_type=ProductType.CREDENTIAL,
            organization_id=uuid.uuid4(),
            offering_organization_ids={uuid.uuid4()},
        )
    org = uuid.uuid4()
    check_can_attach(
        product_type=ProductType.CREDENTIAL, organization_id=org, offering_organization_ids={org}
    )


def test_active_links_cannot_be_deleted() -> None:
    with pytest.raises(DeepLinkActive):
        check_can_delete(is_active=True)
    check_can_delete(is_active=False)


def test_choose_link_is_none_without_links_and_covers_all_of_them() -> None:
    assert choose_link([]) is None
    assert choose_link(["only"]) == "only"
    counts = Counter(choose_link(["a", "b", "c"]) for _ in range(3000))
    assert set(counts) == {"a", "b", "c"}
    # Expected 1000 each; 850 is more than 5 standard deviations away.
    assert min(counts.values()) > 850
