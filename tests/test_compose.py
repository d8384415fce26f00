"""docker-compose.yml is the production-shaped example; no Docker engine runs
here, so this checks its structure and that its Guichet settings are valid."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yaml

from settings import Settings

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def _filled(variable: str) -> object:
    """A value for a `${VAR:?...}` the operator sets at run time (as the
    settings read it from the environment)."""
    if variable == "GUICHET_PAYLOAD_KEYS":
        return [{"id": "k1", "key": base64.b64encode(b"k" * 32).decode()}]
    return "https://provider.example" if variable.endswith("_URL") else "x" * 40


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_part_of_the_stack_is_there(services: dict) -> None:
    assert {
        "postgres",
        "temporal-schema",
        "temporal",
        "temporal-ui",
        "api",
        "worker",
        "mailpit",
    } <= set(services)


def test_images_are_pinned(services: dict) -> None:
    built_here = {service["image"] for service in services.values() if "build" in service}
    for name, service in services.items():
        if service["image"] in built_here:
            continue
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_temporal_waits_for_its_schema(services: dict) -> None:
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert "temporal-sql-tool" in services["temporal-schema"]["command"][0]
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_guichet_services_migrate_first_and_use_postgres(services: dict, name: str) -> None:
    service = services[name]
    command = " ".join(service["command"])
    assert re.search(r"guichet migrate && exec guichet (api|worker)", command), command
    # A worker refuses to start without the search attributes.
    assert "-ec guichet temporal setup && guichet migrate" in command, command
    env = service["environment"]
    assert env["GUICHET_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["GUICHET_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["GUICHET_SMTP_HOST"] == "mailpit"
    assert services[name]["depends_on"]["temporal-namespace"]["condition"] == (
        "service_completed_successfully"
    )


@pytest.mark.parametrize("name", ["api", "worker"])
def test_guichet_environment_is_valid_settings(services: dict, name: str) -> None:
    env = services[name]["environment"]
    known = {f"GUICHET_{field.upper()}" for field in Settings.model_fields}
    unknown = {key for key in env if key not in known}
    assert not unknown, f"typo'd settings in compose: {unknown}"
    # ${VAR:?message} is filled in by compose at run time.
    values = {
        key.removeprefix("GUICHET_").lower(): (
            _filled(key) if str(value).startswith("${") else value
        )
        for key, value in env.items()
    }
    settings = Settings(**values)
    assert settings.require_jwt_secret()
    settings.check_providers()  # real backends: it serves outside dev mode
    assert settings.log_format == "json"
