"""One cache, every replica (spec 65): an admin's write on one API process
empties the read cache of another at once on PostgreSQL (LISTEN/NOTIFY),
not when its entries expire."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from settings import Settings
from tests.api.test_deep_links import ADMIN, URL, _credential_offering
from tests.conftest import token_for
from tests.factories import Factory
from tests.reliability.test_api_restart import ApiProcess

# Far longer than the test: only a notice can explain a fresh answer.
CACHE_SECONDS = 120.0


@pytest.fixture
def settings(settings, temporal_env) -> Settings:
    if not settings.effective_database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; one SQLite process has one cache")
    return settings.model_copy(
        update={
            "temporal_address": temporal_env.client.service_client.config.target_host,
            "read_cache_seconds": CACHE_SECONDS,
        }
    )


async def _served(api: ApiProcess, path: str, expected: dict) -> bool:
    """Whether `api` serves `expected`, asked until it does (10 s)."""
    deadline = asyncio.get_running_loop().time() + 10
    async with httpx.AsyncClient(base_url=api.url) as client:
        while asyncio.get_running_loop().time() < deadline:
            if (await client.get(path)).json() == expected:
                return True
            await asyncio.sleep(0.05)
    return False


async def test_a_write_on_one_api_empties_the_cache_of_the_other(
    settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    apis = [ApiProcess(settings, tmp_path / f"api-{n}.log") for n in range(2)]
    for api in apis:
        api._env["GUICHET_READ_CACHE_SECONDS"] = str(CACHE_SECONDS)
    writer, reader = apis
    try:
        await asyncio.gather(*(api.start() for api in apis))
        offering, (organization, _) = await _credential_offering(factory)
        served = f"/api/v1/offerings/{offering.id}/deep-link"
        assert await _served(reader, served, {"deep_link": None})  # cached now
        headers = {"Authorization": f"Bearer {token_for(sub='ops-admin', roles=['admin'])}"}
        async with httpx.AsyncClient(base_url=writer.url, headers=headers) as admin:
            created = await admin.post(
                f"{ADMIN}/offerings/{offering.id}/deep-links",
                json={"organization_id": str(organization.id), "deep_link": URL, "is_active": True},
            )
            assert created.status_code == 201, created.text
            assert await _served(reader, served, {"deep_link": URL})
            toggled = await admin.patch(
                f"{ADMIN}/offerings/{offering.id}/activate-deep-links", json={"is_active": False}
            )
            assert toggled.status_code == 200
        assert await _served(reader, served, {"deep_link": None})
    finally:
        for api in apis:
            api.kill()
