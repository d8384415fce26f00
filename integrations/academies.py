"""Where academies and their prices come from: the catalogue service (httpx,
paginated) and Stripe prices (the stripe SDK), or the bundled demo payload
when no catalogue service is configured (the embedded stack)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import httpx
import stripe

from domain.academies import CatalogPrice, SyncRules, first_catalog_query_id, keep_price
from settings import AcademyPriceSource, Settings

DEMO_PAYLOAD = Path(__file__).with_name("academies_demo.json")
TIMEOUT = httpx.Timeout(20.0)
MAX_PAGES = 200


class SourceUnavailable(Exception):
    """The catalogue service or Stripe could not answer: retry later."""


class CatalogSource(Protocol):
    async def academies(self) -> list[dict[str, Any]]: ...

    async def default_catalog_query_id(self) -> int | None: ...


class PriceSource(Protocol):
    async def prices(self) -> list[CatalogPrice]: ...


class CatalogService:
    """The catalogue service's academies and enterprise catalogs."""

    def __init__(self, *, base_url: str, token: str, enterprise_customer: str) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._customer = enterprise_customer

    async def _pages(self, path: str) -> list[dict[str, Any]]:
        """Every result, following `next` links."""
        params: dict[str, str] | None = (
            {"enterprise_customer": self._customer} if self._customer else None
        )
        url: str | None = f"{self._base_url}{path}"
        results: list[dict[str, Any]] = []
        async with httpx.AsyncClient(headers=self._headers, timeout=TIMEOUT) as client:
            for _ in range(MAX_PAGES):
                if url is None:
                    return results
                try:
                    answer = await client.get(url, params=params)
                    answer.raise_for_status()
                    page = answer.json()
                except (httpx.HTTPError, ValueError) as error:
                    raise SourceUnavailable(f"catalogue service: {type(error).__name__}") from None
                results.extend(page.get("results") or [])
                url, params = page.get("next"), None  # `next` carries its own query
        raise SourceUnavailable("catalogue service: too many pages")

    async def academies(self) -> list[dict[str, Any]]:
        return await self._pages("/api/v1/academies/")

    async def default_catalog_query_id(self) -> int | None:
        if not self._customer:
            return None
        catalogs = await self._pages("/api/v2/enterprise-catalogs/")
        return first_catalog_query_id([item.get("catalog_query_id") for item in catalogs])


class StripePrices:
    """Active recurring prices with a lookup key, every page."""

    def __init__(self, *, api_key: str, api_base: str | None) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.HTTPXClient(),
            max_network_retries=2,
        )

    async def prices(self) -> list[CatalogPrice]:
        found: list[CatalogPrice] = []
        params: dict[str, Any] = {"active": True, "expand": ["data.product"], "limit": 100}
        try:
            for _ in range(MAX_PAGES):
                page = await self._client.v1.prices.list_async(params=params)
                raw = [item.to_dict() for item in page.data]
                found.extend(_price(item) for item in raw if keep_price(item))
                if not page.has_more or not raw:
                    return found
                params = params | {"starting_after": raw[-1]["id"]}
        except stripe.StripeError as error:
            raise SourceUnavailable(f"stripe: {type(error).__name__}") from None
        raise SourceUnavailable("stripe: too many pages")


def _price(raw: dict[str, Any]) -> CatalogPrice:
    product = raw.get("product")
    recurring = raw.get("recurring") or {}
    return CatalogPrice(
        id=raw["id"],
        product=product["id"] if isinstance(product, dict) else str(product),
        lookup_key=raw["lookup_key"],
        currency=raw["currency"],
        unit_amount=raw.get("unit_amount"),
        unit_amount_decimal=(
            str(raw["unit_amount_decimal"]) if raw.get("unit_amount_decimal") is not None else None
        ),
        recurring={key: recurring.get(key) for key in ("interval", "interval_count", "usage_type")},
    )


class DemoCatalog:
    """The bundled demo payload, shaped like the catalogue service's answers."""

    def __init__(self, path: Path = DEMO_PAYLOAD) -> None:
        self._payload = json.loads(path.read_text(encoding="utf-8"))

    async def academies(self) -> list[dict[str, Any]]:
        return list(self._payload["academies"])

    async def default_catalog_query_id(self) -> int | None:
        return self._payload.get("catalog_query_id")

    async def prices(self) -> list[CatalogPrice]:
        return [_price(item) for item in self._payload["prices"] if keep_price(item)]


def catalog_source(settings: Settings) -> CatalogSource:
    if settings.catalog_api_url is None:
        return DemoCatalog()
    return CatalogService(
        base_url=str(settings.catalog_api_url),
        token=settings.catalog_api_token.get_secret_value(),
        enterprise_customer=settings.catalog_enterprise_customer,
    )


def price_source(settings: Settings) -> PriceSource:
    """GUICHET_ACADEMY_PRICE_SOURCE: Stripe's prices, or the demo's."""
    if settings.academy_price_source == AcademyPriceSource.DEMO:
        return DemoCatalog()
    return StripePrices(
        api_key=settings.stripe_api_key.get_secret_value(),
        api_base=str(settings.stripe_api_base).rstrip("/") if settings.stripe_api_base else None,
    )


def _json_setting(value: str) -> Any:
    """A JSON value, or the path of a JSON file."""
    if not value.strip():
        return {}
    if value.lstrip().startswith("{"):
        return json.loads(value)
    return json.loads(Path(value).read_text(encoding="utf-8"))


def sync_rules(settings: Settings, default_catalog_query_id: int | None) -> SyncRules:
    return SyncRules(
        allowlist=frozenset(settings.academy_allowlist),
        overrides=_json_setting(settings.academy_overrides),
        catalog_query_ids=_json_setting(settings.academy_catalog_query_ids),
        default_catalog_query_id=default_catalog_query_id,
    )
