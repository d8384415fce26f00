"""Settings: defaults, validation, and one clear line when something is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from settings import Settings, SettingsError, get_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GUICHET_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_embedded_defaults(clean_environment: None, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GUICHET_DATA_DIR", str(tmp_path))
    settings = get_settings()
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'guichet.db'}"
    assert settings.effective_temporal_address == "127.0.0.1:7233"
    assert settings.payment_backend == "dummy"
    assert settings.signature_backend == "dummy"
    assert settings.mail_backend == "file"
    assert settings.ratelimit_storage_url == "memory://"
    assert (settings.api_port, settings.temporal_ui_port) == (8000, 8233)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("GUICHET_API_PORT", "http", "GUICHET_API_PORT"),
        ("GUICHET_API_PORT", "70000", "GUICHET_API_PORT"),
        ("GUICHET_PAYMENT_BACKEND", "paypal", "GUICHET_PAYMENT_BACKEND"),
        ("GUICHET_DATABASE_URL", "mysql://x", "GUICHET_DATABASE_URL"),
        ("GUICHET_LOG_LEVEL", "loud", "GUICHET_LOG_LEVEL"),
    ],
)
def test_invalid_values_name_the_variable(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        get_settings()
    message = str(caught.value)
    assert named in message
    assert "\n" not in message


@pytest.mark.parametrize("variable", ["GUICHET_PAYMENT_BACKEND", "GUICHET_ACADEMY_PRICE_SOURCE"])
def test_backends_require_their_credentials(
    clean_environment: None, monkeypatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "stripe")
    with pytest.raises(SettingsError, match="GUICHET_STRIPE_API_KEY"):
        get_settings()


def test_short_jwt_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="GUICHET_JWT_SECRET"):
        Settings(jwt_secret="short").require_jwt_secret()


def _guichet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "GUICHET_DATA_DIR": str(tmp_path), "GUICHET_API_PORT": "x"}
    result = _guichet("migrate", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("guichet: invalid configuration: GUICHET_API_PORT")
    assert "Traceback" not in result.stderr


def test_api_refuses_to_start_without_a_jwt_secret(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "GUICHET_DATA_DIR": str(tmp_path)}
    result = _guichet("api", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "guichet: GUICHET_JWT_SECRET must be set to at least 32 characters"
    )


def test_token_command_prints_a_token_the_api_accepts(tmp_path: Path) -> None:
    from api.auth import decode_token

    secret = "s" * 40
    env = {
        "PATH": os.environ["PATH"],
        "GUICHET_DATA_DIR": str(tmp_path),
        "GUICHET_JWT_SECRET": secret,
    }
    result = _guichet(
        "token",
        "--sub",
        "ops-1",
        "--email",
        "ops@example.org",
        "--role",
        "admin",
        "--role",
        "accountant",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    claims = decode_token(
        token=result.stdout.strip(), settings=Settings(jwt_secret=SecretStr(secret))
    )
    assert claims.sub == "ops-1"
    assert claims.roles == ["admin", "accountant"]


def test_migrate_then_seed_is_idempotent(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "GUICHET_DATA_DIR": str(tmp_path)}
    assert _guichet("migrate", env=env).returncode == 0
    first = _guichet("seed", env=env)
    assert first.stdout.strip() == "demo catalogue created", first.stderr
    again = _guichet("seed", env=env)
    assert again.stdout.strip() == "catalogue not empty: nothing seeded"


@pytest.mark.parametrize(
    ("value", "seconds"), [("2", 2.0), ("2.5", 2.5), ("PT2S", 2.0), ("P1D", 86400.0)]
)
def test_durations_take_plain_seconds_or_iso_8601(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch, value: str, seconds: float
) -> None:
    monkeypatch.setenv("GUICHET_SIGNATURE_POLL_INTERVAL", value)
    assert Settings().signature_poll_interval.total_seconds() == seconds


def test_the_api_refuses_dummy_providers_outside_dev_mode(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "GUICHET_DATA_DIR": str(tmp_path),
        "GUICHET_JWT_SECRET": "s" * 40,
    }
    for command in ("api", "worker"):
        result = _guichet(command, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            "guichet: GUICHET_PAYMENT_BACKEND and GUICHET_SIGNATURE_BACKEND is dummy, which is "
            "for development: configure stripe / lex_persona, or set "
            "GUICHET_ALLOW_DUMMY_PROVIDERS=true on purpose"
        )


@pytest.mark.parametrize(
    "update",
    [{"dev_mode": True}, {"allow_dummy_providers": True}],
)
def test_dummy_providers_in_dev_mode_or_on_purpose(update: dict) -> None:
    Settings(**update).check_providers()  # no error


def test_real_backends_need_no_permission() -> None:
    Settings(
        payment_backend="stripe",
        stripe_api_key=SecretStr("sk_test_x"),
        signature_backend="lex_persona",
        lexpersona_base_url="https://sign.example",
        lexpersona_token=SecretStr("t"),
    ).check_providers()


def test_token_in_dev_signs_with_the_data_dirs_key(tmp_path: Path) -> None:
    """`guichet dev` keeps its key in the data dir: `guichet token` there
    needs no GUICHET_JWT_SECRET exported."""
    from api.auth import decode_token

    (tmp_path / "jwt-secret").write_text("k" * 48)
    env = {"PATH": os.environ["PATH"], "GUICHET_DATA_DIR": str(tmp_path)}
    result = _guichet("token", "--sub", "ada", env=env)
    assert result.returncode == 0, result.stderr
    claims = decode_token(
        token=result.stdout.strip(), settings=Settings(jwt_secret=SecretStr("k" * 48))
    )
    assert claims.sub == "ada"


def test_a_cli_command_without_its_database_fails_in_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "GUICHET_DATA_DIR": str(tmp_path),
        "GUICHET_DATABASE_URL": "postgresql+psycopg://guichet@127.0.0.1:1/guichet",
    }
    result = _guichet("promo", "export", "some-campaign", env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("guichet: promo: the database is unreachable"), line


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GUICHET_ACADEMY_OVERRIDES", '{"AI Academy": {"display_order": "invalid"}}'),
        ("GUICHET_ACADEMY_OVERRIDES", '{"AI Academy": {"colour": "red"}}'),
        ("GUICHET_ACADEMY_CATALOG_QUERY_IDS", '{"AI Academy": "invalid"}'),
        ("GUICHET_ACADEMY_CATALOG_QUERY_IDS", "not json"),
    ],
)
def test_academy_rules_are_checked_at_start(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A bad override used to fail every sync; now the process does not start."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        get_settings.cache_clear()
        get_settings()
