"""The one settings object, built from the environment at start-up and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Placeholder secrets are refused outside the dev stack, so a forgotten variable fails
# loudly at start-up rather than leaving an operator route open.
_PLACEHOLDER = "change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNCLINE_", extra="ignore")

    environment: Literal["production", "dev", "test"] = "production"
    database_url: str = "sqlite+aiosqlite:///.syncline/syncline.db"

    temporal_address: str = Field(
        "127.0.0.1:7233",
        validation_alias=AliasChoices("TEMPORAL_ADDRESS", "SYNCLINE_TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = Field(
        "default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "SYNCLINE_TEMPORAL_NAMESPACE"),
    )
    task_queue: str = "syncline"
    temporal_ui_url: str = "http://127.0.0.1:8233"

    api_token: SecretStr | None = Field(
        None,
        description="Deprecated: one shared bearer token, accepted as an admin nobody can "
        "name. Operators sign in with personal keys (syncline operators add) or OIDC",
    )
    webhook_secret: SecretStr = SecretStr(_PLACEHOLDER)
    webhook_secret_previous: SecretStr | None = Field(
        None,
        description="During a rotation, the secret being retired: deliveries signed with "
        "either are accepted until it is unset",
    )
    webhook_tolerance_seconds: int = 300
    webhook_rate_limit: str = Field(
        "200/second",
        description="Deliveries one sender (source and address) may make, in the `limits` "
        "notation (e.g. 200/second, 5000/minute); more are answered 429 with Retry-After",
    )
    api_rate_limit: str = Field(
        "50/second", description="Operator API requests one client address may make"
    )
    api_operator_rate_limit: str = Field(
        "50/second",
        description="Operator API requests one signed-in operator may make, from anywhere",
    )
    auth_lockout_refusals: int = Field(
        20,
        ge=1,
        description="Refused attempts (401, 403) from one address, or 403s of one operator, "
        "within auth_lockout_minutes after which further requests are answered 429",
    )
    auth_lockout_minutes: float = Field(15.0, gt=0)

    # OpenID Connect: bearer tokens from the company's identity provider, verified against
    # its published keys (JWKS). Unset issuer: only personal keys sign in.
    oidc_issuer: str | None = Field(None, description="The iss every token must carry")
    oidc_audience: str | None = Field(None, description="The aud every token must carry")
    oidc_jwks_url: str | None = Field(None, description="Where the provider publishes its keys")
    oidc_role_claim: str = Field(
        "syncline_role",
        description="The claim (a dotted path, e.g. realm_access.roles) naming the role: "
        "viewer, operator or admin, or a list of them (the highest counts)",
    )
    oidc_name_claim: str = Field(
        "email", description="The claim naming the person in the audit trail (else sub)"
    )

    crm_base_url: str = "http://127.0.0.1:8010"
    crm_client_id: str = "syncline-crm"
    crm_client_secret: SecretStr = SecretStr(_PLACEHOLDER)
    crm_auth: Literal["client_credentials", "jwt"] = Field(
        "client_credentials",
        description="How the CRM token is obtained: the connected app's client credentials, "
        "or the JWT bearer grant signed with a private key (no shared secret)",
    )
    crm_username: str | None = Field(
        None, description="JWT bearer: the integration user the token acts as (sub)"
    )
    crm_private_key_file: Path | None = Field(
        None,
        description="JWT bearer: PEM RSA private key whose certificate the connected app holds",
    )
    crm_jwt_audience: str | None = Field(
        None,
        description="JWT bearer: the aud claim, https://login.salesforce.com or "
        "https://test.salesforce.com; defaults to the CRM base URL",
    )

    erp_kind: Literal["netsuite", "tryton"] = "netsuite"
    erp_base_url: str = "http://127.0.0.1:8020"
    # NetSuite lets an integration in two ways. OAuth 2.0 client credentials: the
    # integration record's client id, and a private key whose certificate an
    # administrator mapped to it (NetSuite shows the certificate id). Or token-based
    # authentication: the account id, the integration's consumer key and secret, and
    # an access token's id and secret. No client secret: NetSuite's client-credentials
    # grant takes a signed assertion only.
    erp_auth: Literal["oauth2_jwt", "tba"] = Field(
        "oauth2_jwt", description="How Syncline authenticates to NetSuite"
    )
    erp_client_id: str = "syncline-erp"
    erp_certificate_id: str = ""
    erp_private_key_file: Path | None = Field(
        None,
        description="PEM private key (RSA 3072/4096 or EC), unencrypted, readable by Syncline only",
    )
    erp_account_id: str = Field("", description="NetSuite account id, e.g. 1234567 or 1234567_SB1")
    erp_consumer_key: str = ""
    erp_consumer_secret: SecretStr = SecretStr("")
    erp_token_id: str = ""
    erp_token_secret: SecretStr = SecretStr("")
    # Tryton only: its REST application key.
    erp_client_secret: SecretStr = SecretStr(_PLACEHOLDER)
    erp_max_concurrency: int = Field(
        5, ge=1, description="in-flight ERP calls, all workers together"
    )
    erp_governor: Literal["auto", "local", "postgres"] = "auto"
    erp_subsidiary_id: str | None = Field(
        None,
        pattern=r"^[0-9]+$",
        description="NetSuite OneWorld: the internal id of the subsidiary new customers and "
        "sales orders are booked in (OneWorld refuses them without one); unset elsewhere",
    )
    # Tryton only: the database on the server, and the company when the user has several.
    erp_database: str = "syncline"
    erp_company: int | None = None
    erp_poll_seconds: float = Field(30.0, gt=0, description="ERP change feed poll interval")
    unexpected_error_attempts: int = Field(
        5,
        ge=1,
        description="Attempts of a step failing with an error no connector explains (a bug, "
        "a malformed answer) before its process parks for a person",
    )
    renewal_lead_days: int = Field(
        90, ge=0, description="How long before a subscription term ends its renewal opens"
    )
    crm_client_name: str = Field(
        "syncline",
        pattern=r"^[A-Za-z0-9_]+$",
        description="Sent as Sforce-Call-Options client=…; change data capture reports it "
        "as the origin of Syncline's own writes, which are then not taken for user edits",
    )

    crm_stream: Literal["pubsub", "off"] = Field(
        "off",
        description="pubsub: also read the CRM's change events over Salesforce's Pub/Sub API "
        "from Syncline's own position, so an ingress outage loses nothing (needs change data "
        "capture for Opportunity and Account); off: webhooks alone",
    )
    crm_pubsub_address: str = Field(
        "api.pubsub.salesforce.com:7443", description="The Pub/Sub API's host:port"
    )
    crm_pubsub_tls: bool = Field(
        True, description="TLS to the Pub/Sub API (off only for the sandbox on loopback)"
    )
    crm_stream_channels: str = Field(
        "/data/OpportunityChangeEvent,/data/AccountChangeEvent",
        description="Comma-separated change event channels, one stream workflow each",
    )
    crm_stream_window_seconds: float = Field(
        60.0, gt=0, description="How long one run of a stream reads before it records its position"
    )
    crm_stream_batch_size: int = Field(
        100, ge=1, le=1000, description="Change events asked for at a time (num_requested)"
    )

    reconcile_schedule: bool = Field(
        True, description="Create or update the nightly reconciliation Schedule at worker start"
    )
    reconcile_cron: str = Field("0 2 * * *", description="When the nightly reconciliation runs")
    reconcile_timezone: str = Field("UTC", description="The IANA time zone of the cron")
    reconcile_catchup_hours: float = Field(
        6.0, gt=0, description="How late a missed nightly run may still start after an outage"
    )
    reconcile_sla_minutes: float = Field(
        15.0,
        gt=0,
        description="How long normal sync may take: a younger difference is in flight",
    )

    metrics: bool = Field(
        True, description="OpenTelemetry metrics: /metrics on the API and the worker, OTLP too"
    )
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(9464, ge=1, le=65535)
    metrics_refresh_seconds: float = Field(
        15.0, gt=0, description="How often the API reads the store's gauges (backlog, freshness)"
    )
    inbox_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often each API's inbox relay looks for deliveries it was not "
        "woken for (stored by another replica, or left by one that stopped)",
    )
    inbox_max_backoff_seconds: float = Field(
        10.0,
        gt=0,
        description="The longest the inbox relay waits between attempts while Temporal "
        "is unavailable (it doubles from a quarter second)",
    )
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str | None = None
    service_name: str = "syncline"

    @field_validator("webhook_rate_limit", "api_rate_limit", "api_operator_rate_limit")
    @classmethod
    def _parsable_rate(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as 200/second") from None
        return value

    @field_validator(
        "erp_private_key_file",
        "api_token",
        "oidc_issuer",
        "oidc_audience",
        "oidc_jwks_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("reconcile_timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/Berlin)"
            ) from None
        return value

    @classmethod
    def from_env_values(cls, env: Mapping[str, str]) -> Self:
        """The settings ``env`` (a stack's ``dev.env``) gives, without reading the process
        environment: how tools beside a stack (the demo, the tests, the benchmarks) reach
        its systems exactly as its worker does."""
        values: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            # A field with aliases (``TEMPORAL_ADDRESS``) is validated by alias only.
            alias = field.validation_alias
            keys = alias.choices if isinstance(alias, AliasChoices) else []
            for key in keys:
                if isinstance(key, str) and key in env:
                    values[key] = env[key]
                    break
            if not keys and f"SYNCLINE_{name.upper()}" in env:
                values[name] = env[f"SYNCLINE_{name.upper()}"]
        return cls.model_validate(values)

    def _erp_credentials(self) -> tuple[str, ...]:
        """The ERP settings the chosen way of logging in needs."""
        if self.erp_kind == "tryton":
            return ("erp_client_secret",)
        if self.erp_auth == "tba":
            return (
                "erp_account_id",
                "erp_consumer_key",
                "erp_consumer_secret",
                "erp_token_id",
                "erp_token_secret",
            )
        return ("erp_client_id", "erp_certificate_id", "erp_private_key_file")

    @model_validator(mode="after")
    def _jwt_needs_user_and_key(self) -> Settings:
        if self.crm_auth == "jwt" and not (self.crm_username and self.crm_private_key_file):
            raise ValueError(
                "SYNCLINE_CRM_AUTH=jwt needs SYNCLINE_CRM_USERNAME and "
                "SYNCLINE_CRM_PRIVATE_KEY_FILE"
            )
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        oidc = {
            "SYNCLINE_OIDC_ISSUER": self.oidc_issuer,
            "SYNCLINE_OIDC_AUDIENCE": self.oidc_audience,
            "SYNCLINE_OIDC_JWKS_URL": self.oidc_jwks_url,
        }
        missing = [name for name, value in oidc.items() if not value]
        if missing and len(missing) < len(oidc):
            raise ValueError(f"OpenID Connect needs {', '.join(missing)} too")
        jwks = self.oidc_jwks_url or ""
        # Keys fetched over plain HTTP could be swapped on the way, and with them any
        # token accepted: outside dev and test only HTTPS.
        if jwks and self.environment == "production" and not jwks.startswith("https://"):
            raise ValueError("SYNCLINE_OIDC_JWKS_URL must be https:// in production")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "production":

            def unset(name: str) -> bool:
                value = getattr(self, name)
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                return value in (None, "", _PLACEHOLDER)

            # The JWT bearer grant sends no client secret, so none is required for it.
            crm = ("crm_client_secret",) if self.crm_auth == "client_credentials" else ()
            names = ("webhook_secret", *crm, *self._erp_credentials())
            missing = [f"SYNCLINE_{name.upper()}" for name in names if unset(name)]
            # The shared token is optional now (deprecated), but never the placeholder.
            token = self.api_token
            if token is not None and token.get_secret_value() == _PLACEHOLDER:
                missing.append("SYNCLINE_API_TOKEN")
            previous = self.webhook_secret_previous
            if previous is not None and previous.get_secret_value() == _PLACEHOLDER:
                missing.append("SYNCLINE_WEBHOOK_SECRET_PREVIOUS")
            if missing:
                raise ValueError(f"set real secrets for {', '.join(missing)}")
        return self

    @property
    def webhook_secrets(self) -> list[str]:
        """The secrets a delivery may be signed with: the current one first."""
        previous = self.webhook_secret_previous
        secrets = [self.webhook_secret.get_secret_value()]
        if previous is not None and previous.get_secret_value():
            secrets.append(previous.get_secret_value())
        return secrets

    @property
    def stream_channels(self) -> list[str]:
        return [c.strip() for c in self.crm_stream_channels.split(",") if c.strip()]

    @cached_property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    def workflow_ui_link(self, workflow_id: str, run_id: str | None = None) -> str:
        base = (
            f"{self.temporal_ui_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"
        )
        return f"{base}/{run_id}/history" if run_id else base
