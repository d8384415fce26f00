"""Every knob of Guichet, read from GUICHET_* environment variables.

`get_settings()` is the only way the rest of the code reads configuration, so a
test can override the environment and clear the cache in one place.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import quote

from limits import parse
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.academies import check_override
from domain.emails import FrontendLinks, check_link_template
from domain.payment_schedule import (
    DEFAULT_LIMITS,
    DEFAULT_WITHDRAWAL_PERIOD_DAYS,
    SchedulePolicy,
    check_limits,
)
from domain.payments import DEFAULT_GRACE_PERIOD, DEFAULT_RETRY_DELAYS, DunningPolicy

MIN_JWT_SECRET_LENGTH = 32

Port = Annotated[int, Field(ge=1, le=65535)]


def _seconds_or_iso(value: object) -> object:
    """`30` or `2.5` is seconds; anything else is read as pydantic reads a
    duration (ISO 8601 `PT30S`, `P1D`, or `HH:MM:SS`)."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        return float(value)
    return value


# Every duration setting: plain seconds or ISO 8601.
Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]


class PaymentBackend(StrEnum):
    DUMMY = "dummy"
    STRIPE = "stripe"


class AcademyPriceSource(StrEnum):
    """Where academy products' prices come from, whatever takes the payments."""

    DEMO = "demo"
    STRIPE = "stripe"


class SignatureBackend(StrEnum):
    DUMMY = "dummy"
    LEX_PERSONA = "lex_persona"


class MailBackend(StrEnum):
    FILE = "file"
    SMTP = "smtp"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


# What each link template of our mails is given.
LINK_PLACEHOLDERS = {
    "frontend_order_page": ("frontend_url", "order_id"),
    "frontend_pay_page": ("frontend_url", "order_id", "installment_id"),
    "frontend_checkout_success_page": ("frontend_url", "intent_id"),
    "frontend_checkout_cancel_page": ("frontend_url", "intent_id"),
    "frontend_subscriptions_page": ("frontend_url",),
}


class PayloadKey(BaseModel):
    """A key of the Temporal payload codec: an id stored beside each
    encrypted payload, and 32 bytes (AES-256-GCM), base64-encoded."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    key: SecretStr

    @field_validator("key")
    @classmethod
    def _thirty_two_bytes(cls, key: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(key.get_secret_value(), validate=True)
        except ValueError:
            raise ValueError("a payload key is base64") from None
        if len(raw) != 32:
            raise ValueError("a payload key is 32 bytes (base64 of `openssl rand 32`)")
        return key


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUICHET_", extra="ignore", frozen=True)

    # Where the embedded stack keeps its SQLite db, Temporal db and mail folder.
    data_dir: Path = Path(".guichet")
    database_url: str = ""
    database_echo: bool = False
    # Connections kept open per process. Connections beyond it (max_overflow)
    # are closed when returned, so under steady load they churn: size the pool
    # for the process's usual concurrency.
    database_pool_size: Annotated[int, Field(ge=1, le=500)] = 30
    database_max_overflow: Annotated[int, Field(ge=0, le=500)] = 10

    temporal_address: str = ""
    temporal_namespace: str = "default"
    task_queue: str = "guichet"
    temporal_port: Port = 7233
    temporal_ui_port: Port = 8233
    # Where operators open the Temporal Web UI (the back office links each
    # order's workflows there); default the dev UI.
    temporal_ui_url: str = ""
    # Workflow and activity payloads are encrypted with the first key; older
    # payloads decode with theirs (rotation). JSON list of {"id", "key"}.
    # None: payloads stay plain (`guichet dev` makes a key in the data dir).
    payload_keys: list[PayloadKey] = Field(default_factory=list)
    # `guichet codec-server`: the Web UI's remote codec (admin tokens only),
    # and the origins (the UI's) allowed to call it from a browser.
    codec_port: Port = 8234
    codec_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Prometheus endpoint of the worker (Temporal SDK metrics); empty disables it.
    worker_metrics_address: str = ""
    # Activities one worker process runs at once (regular, local). A task the
    # worker takes counts against its start-to-close timeout while it waits
    # for the process: take no more than it can run in time, the rest waits at
    # the server (bench.orders: with 100, card saves timed out under load).
    worker_max_concurrent_activities: Annotated[int, Field(ge=1, le=1000)] = 16
    worker_max_concurrent_local_activities: Annotated[int, Field(ge=1, le=1000)] = 16
    # On SIGTERM a worker stops polling and lets its running activities
    # finish for this long (a debit in flight completes), then exits.
    worker_shutdown_grace: Duration = timedelta(seconds=30)

    api_host: str = "127.0.0.1"
    api_port: Port = 8000
    public_url: AnyHttpUrl | None = None

    # The learner's front end, for the links of our mails: its base URL and
    # the pages to show an order and to pay an installment ({frontend_url},
    # {order_id}, {installment_id} are filled in).
    frontend_url: str = "http://localhost:3000"
    frontend_order_page: str = "{frontend_url}/orders/{order_id}"
    frontend_pay_page: str = "{frontend_url}/orders/{order_id}/installments/{installment_id}/pay"
    # Where an academy checkout sends the learner back, paid or not
    # ({intent_id}), and where they see their subscriptions.
    frontend_checkout_success_page: str = "{frontend_url}/academies/checkout/{intent_id}/success"
    frontend_checkout_cancel_page: str = "{frontend_url}/academies/checkout/{intent_id}/canceled"
    frontend_subscriptions_page: str = "{frontend_url}/subscriptions"

    # Origins of the front ends allowed to call the API from a browser
    # (CORS); none by default. JSON list or comma-separated.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Request bodies larger than this are refused (413) before being read.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    jwt_secret: SecretStr = SecretStr("")
    jwt_algorithm: str = "HS256"
    # A token whose `exp` lies further ahead than this is refused.
    jwt_max_lifetime: Duration = timedelta(days=1)
    # When set, tokens must carry this `iss` / `aud`.
    jwt_issuer: str = ""
    jwt_audience: str = ""

    # Development conveniences (mail previews); `guichet dev` turns it on.
    dev_mode: bool = False
    # The dummy payment and signature backends outside dev mode: only on
    # purpose (a demo, the test suite); never for real learners.
    allow_dummy_providers: bool = False

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT

    payment_backend: PaymentBackend = PaymentBackend.DUMMY
    stripe_api_key: SecretStr = SecretStr("")
    stripe_api_base: AnyHttpUrl | None = None
    stripe_webhook_secret: SecretStr = SecretStr("")
    academy_price_source: AcademyPriceSource = AcademyPriceSource.DEMO

    signature_backend: SignatureBackend = SignatureBackend.DUMMY
    lexpersona_base_url: AnyHttpUrl | None = None
    lexpersona_token: SecretStr = SecretStr("")
    lexpersona_session_user_id: str = ""
    lexpersona_profile_id: str = ""

    # Signatures: webhooks are raced against polling (every interval, doubling
    # up to the maximum); a procedure not signed within the validity expires.
    signature_poll_interval: Duration = timedelta(seconds=30)
    signature_poll_max_interval: Duration = timedelta(minutes=10)
    signature_validity_days: Annotated[float, Field(gt=0, le=365)] = 99
    dummy_signature_webhook_delay: Annotated[float, Field(ge=0, le=3600)] = 1.0
    dummy_signature_webhook_drop_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    # HMAC key of the dummy provider's webhooks; derived from the JWT secret when empty.
    dummy_signature_secret: SecretStr = SecretStr("")

    mail_backend: MailBackend = MailBackend.FILE
    mail_from: str = "Guichet <no-reply@guichet.localhost>"
    smtp_host: str = "localhost"
    smtp_port: Port = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_use_tls: bool = False

    # Told of each enrollment change by an HMAC-SHA256 signed POST, when set.
    lms_webhook_url: AnyHttpUrl | None = None
    lms_webhook_secret: SecretStr = SecretStr("")

    # Academies: the catalogue service (none: the bundled demo payload).
    catalog_api_url: AnyHttpUrl | None = None
    catalog_api_token: SecretStr = SecretStr("")
    catalog_enterprise_customer: str = ""
    catalog_sync_interval: Duration = timedelta(hours=1)
    # uuids or names; empty keeps every academy of the payload.
    academy_allowlist: list[str] = Field(default_factory=list)
    # JSON (or a path to a JSON file): {"<uuid or name>": {"field": value}}.
    academy_overrides: str = ""
    # JSON (or a path to a JSON file): {"<uuid or name>": <catalog_query_id>}.
    academy_catalog_query_ids: str = ""
    academy_thumbnail_base_url: str = ""
    academy_rate_limit: str = "120/hour"
    # Public reads (deep links, academy products) are cached this long per
    # API process; 0 turns the cache off (api/cache.py).
    read_cache_seconds: float = Field(default=2.0, ge=0, le=300)
    # A created intent nobody pays expires after this long.
    checkout_intent_lifetime: Duration = timedelta(hours=24)
    # A paid checkout not fulfilled by then is flagged errored_fulfillment_stalled.
    checkout_fulfilment_stall: Duration = timedelta(seconds=180)
    # With Stripe, the `stripe-events-backfill` schedule applies the academy
    # subscription events of the last 3 days a webhook did not bring.
    stripe_events_backfill_interval: Duration = timedelta(hours=1)

    # A promo code activated into a cart not validated within this long goes
    # back to unused and its line leaves the cart; fixed per campaign at its creation.
    cart_code_hold: Duration = timedelta(days=7)
    # Promo-code campaigns: the codes' first part, and how many a campaign may ask.
    promo_client_code: str = Field(default="GUICHET", min_length=1, max_length=16)
    promo_max_codes: int = Field(default=500, ge=1, le=1_000_000)
    # Activation attempts: per member, and per client IP (a campus shares one).
    promo_activation_rate_limit_user: str = "10/minute"
    promo_activation_rate_limit_ip: str = "300/minute"
    # Lookups of a voucher code in the public payment plan, per client IP:
    # without it the route tells anyone which codes exist.
    voucher_lookup_rate_limit: str = "30/minute"

    # Where rate-limit counters live: memory:// (one process) or redis://host:port.
    ratelimit_storage_url: str = "memory://"

    # How long an API request waits on a workflow before answering 504.
    workflow_call_timeout: Duration = timedelta(seconds=30)

    # Orders: an order still waiting for its learner (signature, payment
    # method) after this long is canceled, freeing its seat.
    order_stuck_timeout: Duration = timedelta(hours=1)
    withdrawal_period_days: Annotated[int, Field(ge=0, le=60)] = DEFAULT_WITHDRAWAL_PERIOD_DAYS
    # Reminder email this long before each debit.
    installment_reminder_days: Annotated[float, Field(ge=0, le=60)] = 2
    # A charge the provider confirms later is asked again this often, in
    # case its webhook is lost.
    pending_charge_poll: Duration = timedelta(minutes=1)
    # A soft refusal is charged again after each delay, counted from the
    # first refusal (a JSON list of durations).
    dunning_retry_delays: list[Duration] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_DELAYS), max_length=20
    )
    # The learner is told this long before an installment that their saved
    # card expires before it (once per order and card).
    card_expiry_notice: Duration = timedelta(days=30)
    # Still unpaid this long after the first refusal, an order's enrollments
    # are suspended until it is paid.
    dunning_grace_period: Duration = DEFAULT_GRACE_PERIOD
    # {max total: [percentages]}: the first limit at or above the total wins.
    payment_schedule_limits: dict[int, list[int]] = Field(
        default_factory=lambda: {limit: list(split) for limit, split in DEFAULT_LIMITS.items()}
    )

    def dunning_policy(self) -> DunningPolicy:
        """The dunning ladder new orders are collected with."""
        return DunningPolicy(
            retry_delays=tuple(self.dunning_retry_delays), grace_period=self.dunning_grace_period
        )

    def schedule_policy(self) -> SchedulePolicy:
        """The policy new orders are planned, signed and debited with."""
        return SchedulePolicy(
            limits=self.payment_schedule_limits,
            withdrawal_days=self.withdrawal_period_days,
            reminder_days=self.installment_reminder_days,
        )

    @field_validator("cors_origins", "codec_cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip().rstrip("/") for item in text.split(",") if item.strip()]
        return value

    @field_validator("academy_overrides", "academy_catalog_query_ids")
    @classmethod
    def _academy_rules(cls, value: str, info: ValidationInfo) -> str:
        """Checked at start: one bad entry used to fail every sync."""
        if not value.strip():
            return value
        try:
            text = value if value.lstrip().startswith("{") else Path(value).read_text("utf-8")
            table = json.loads(text)
        except (OSError, ValueError):
            raise ValueError("must be a JSON object, or the path of a file holding one") from None
        if not isinstance(table, dict):
            raise ValueError("must be a JSON object keyed by academy uuid or name")
        for name, entry in table.items():
            if info.field_name == "academy_overrides":
                check_override(name, entry)
            elif isinstance(entry, bool) or not isinstance(entry, int):
                raise ValueError(f"the catalog query id of {name!r} must be a number")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+psycopg://")
        return value

    @field_validator(
        "academy_rate_limit",
        "promo_activation_rate_limit_user",
        "promo_activation_rate_limit_ip",
        "voucher_lookup_rate_limit",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError("must read like `10/minute` or `300 per hour`") from None
        return value

    @field_validator(*LINK_PLACEHOLDERS)
    @classmethod
    def _link_template(cls, value: str, info: ValidationInfo) -> str:
        check_link_template(value, placeholders=LINK_PLACEHOLDERS[info.field_name])
        return value

    def frontend_page(self, name: str, **values: object) -> str:
        """A front-end link template of LINK_PLACEHOLDERS, filled in."""
        base = self.frontend_url.rstrip("/")
        return getattr(self, name).replace("{frontend_url}", base).format(**values)

    def frontend_links(self) -> FrontendLinks:
        """The links our mails carry to the learner's front end."""
        base = self.frontend_url.rstrip("/")
        return FrontendLinks(
            order_page=self.frontend_order_page.replace("{frontend_url}", base),
            pay_page=self.frontend_pay_page.replace("{frontend_url}", base),
        )

    @field_validator("payment_schedule_limits")
    @classmethod
    def _splits_add_up(cls, value: dict[int, list[int]]) -> dict[int, list[int]]:
        check_limits(value)
        return value

    @model_validator(mode="after")
    def _backend_credentials(self) -> Self:
        if self.payment_backend == PaymentBackend.STRIPE and not self.stripe_api_key:
            raise ValueError("GUICHET_STRIPE_API_KEY is required when PAYMENT_BACKEND=stripe")
        if self.academy_price_source == AcademyPriceSource.STRIPE and not self.stripe_api_key:
            raise ValueError("GUICHET_STRIPE_API_KEY is required when ACADEMY_PRICE_SOURCE=stripe")
        if self.signature_backend == SignatureBackend.LEX_PERSONA and not (
            self.lexpersona_base_url and self.lexpersona_token.get_secret_value()
        ):
            raise ValueError(
                "GUICHET_LEXPERSONA_BASE_URL and GUICHET_LEXPERSONA_TOKEN are required "
                "when SIGNATURE_BACKEND=lex_persona"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'guichet.db'}"

    @property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def effective_temporal_ui_url(self) -> str:
        return (self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}").rstrip("/")

    def workflow_ui_url(self, workflow_id: str) -> str:
        """The workflow's page in the Temporal Web UI (the back office links it)."""
        namespace = quote(self.temporal_namespace, safe="")
        return f"{self.effective_temporal_ui_url}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return str(self.public_url).rstrip("/")
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def dummy_signature_secret_value(self) -> str:
        given = self.dummy_signature_secret.get_secret_value()
        return given or self._derived_secret("dummy-signature")

    @property
    def dummy_payment_secret_value(self) -> str:
        """What the dummy payment backend signs its webhooks with."""
        return self._derived_secret("dummy-payment")

    def _derived_secret(self, purpose: str) -> str:
        """A key for `purpose` derived from the JWT secret: one secret to set
        in dev, a different key for each use."""
        seed = f"{purpose}\n{self.jwt_secret.get_secret_value()}"
        return hashlib.sha256(seed.encode()).hexdigest()

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def check_providers(self) -> None:
        """The API and the worker refuse to serve with a dummy backend (anyone
        holding an invitation link could sign; cards are not charged) unless
        in dev mode or allowed on purpose."""
        dummies = [
            name
            for name, backend in (
                ("GUICHET_PAYMENT_BACKEND", self.payment_backend),
                ("GUICHET_SIGNATURE_BACKEND", self.signature_backend),
            )
            if backend == "dummy"
        ]
        if dummies and not (self.dev_mode or self.allow_dummy_providers):
            raise SettingsError(
                f"{' and '.join(dummies)} is dummy, which is for development: configure "
                "stripe / lex_persona, or set GUICHET_ALLOW_DUMMY_PROVIDERS=true on purpose"
            )

    def require_jwt_secret(self) -> str:
        """The signing key; only processes that sign or verify tokens need it."""
        secret = self.jwt_secret.get_secret_value()
        if len(secret) < MIN_JWT_SECRET_LENGTH:
            raise SettingsError(
                f"GUICHET_JWT_SECRET must be set to at least {MIN_JWT_SECRET_LENGTH} characters"
            )
        return secret


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line for the operator."""


def describe_validation_error(error: ValidationError) -> str:
    """Turn pydantic's multi-line report into one line naming the variables."""
    parts = []
    for item in error.errors():
        field = ".".join(str(loc) for loc in item["loc"])
        name = f"GUICHET_{field.upper()}" if field else "settings"
        parts.append(f"{name}: {item['msg'].removeprefix('Value error, ')}")
    return "invalid configuration: " + "; ".join(parts)


@functools.cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None
