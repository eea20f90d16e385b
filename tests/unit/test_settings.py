from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.governor import LocalGovernor
from connectors.netsuite import CredentialError, OAuth2Credentials, TbaCredentials
from sandbox.netsuite.certificates import make_key_pair
from store.pg_governor import PostgresGovernor
from workers.settings import Settings
from workers.wiring import build_governor, netsuite_credentials

PG = "postgresql+asyncpg://u@127.0.0.1/db"


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCLINE_API_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="SYNCLINE_WEBHOOK_SECRET") as unset:
        Settings(environment="production")
    # The shared operator token is deprecated: unset is right, the placeholder is not.
    assert "SYNCLINE_API_TOKEN" not in str(unset.value)
    with pytest.raises(ValidationError, match="SYNCLINE_API_TOKEN"):
        Settings(environment="production", api_token="change-me")


def test_oidc_needs_issuer_audience_and_keys_and_https_keys_in_production() -> None:
    with pytest.raises(ValidationError, match="SYNCLINE_OIDC_AUDIENCE, SYNCLINE_OIDC_JWKS_URL"):
        Settings(environment="test", oidc_issuer="https://idp.example.com")
    oidc = {
        "oidc_issuer": "https://idp.example.com",
        "oidc_audience": "syncline",
        "oidc_jwks_url": "http://idp.example.com/jwks",
    }
    assert Settings(environment="test", **oidc).oidc_enabled
    assert not Settings(environment="test").oidc_enabled
    with pytest.raises(ValidationError, match="must be https:// in production"):
        Settings(environment="production", webhook_secret="w", **oidc)


def test_secrets_do_not_show_in_the_settings_repr() -> None:
    settings = Settings(environment="dev", api_token="tok-123", erp_client_secret="erp-456")
    assert "tok-123" not in repr(settings) and "erp-456" not in repr(settings)


@pytest.mark.parametrize(
    ("database_url", "choice", "expected"),
    [
        ("sqlite+aiosqlite:///x.db", "auto", LocalGovernor),
        (PG, "auto", PostgresGovernor),
        (PG, "local", LocalGovernor),
    ],
)
def test_the_erp_governor_follows_the_database(
    database_url: str, choice: str, expected: type
) -> None:
    settings = Settings(environment="dev", database_url=database_url, erp_governor=choice)
    assert isinstance(build_governor(settings), expected)


def test_a_rotation_accepts_the_retired_secret_until_it_is_unset() -> None:
    rotating = Settings(
        environment="test", webhook_secret="new-secret", webhook_secret_previous="old-secret"
    )
    assert rotating.webhook_secrets == ["new-secret", "old-secret"]
    done = Settings(environment="test", webhook_secret="new-secret", webhook_secret_previous="")
    assert done.webhook_secrets == ["new-secret"]
    assert "old-secret" not in repr(rotating)  # secrets stay out of logs and errors


def test_a_placeholder_retired_secret_is_refused_in_production() -> None:
    def production(previous: str) -> Settings:
        return Settings(
            api_token="t0ken",
            webhook_secret="new-secret",
            crm_client_secret="c",
            erp_certificate_id="cert",
            erp_private_key_file="/run/secrets/netsuite.pem",
            webhook_secret_previous=previous,
        )

    with pytest.raises(ValidationError, match="SYNCLINE_WEBHOOK_SECRET_PREVIOUS"):
        production("change-me")
    assert production("old-secret").webhook_secrets == [
        "new-secret",
        "old-secret",
    ]


@pytest.mark.parametrize(
    ("erp", "missing"),
    [
        ({}, "SYNCLINE_ERP_CERTIFICATE_ID, SYNCLINE_ERP_PRIVATE_KEY_FILE"),
        (
            {"erp_auth": "tba", "erp_account_id": "1234567", "erp_consumer_key": "ck"},
            "SYNCLINE_ERP_CONSUMER_SECRET, SYNCLINE_ERP_TOKEN_ID, SYNCLINE_ERP_TOKEN_SECRET",
        ),
        ({"erp_kind": "tryton"}, "SYNCLINE_ERP_CLIENT_SECRET"),
    ],
)
def test_production_names_the_erp_credentials_its_login_needs(
    erp: dict[str, str], missing: str
) -> None:
    with pytest.raises(ValidationError, match=f"set real secrets for {missing} \\["):
        Settings(api_token="t", webhook_secret="w", crm_client_secret="c", **erp)  # type: ignore[arg-type]


def test_netsuite_credentials_follow_the_chosen_login(tmp_path: Path) -> None:
    key = tmp_path / "netsuite.pem"
    key.write_bytes(make_key_pair().private_key_pem)
    oauth2 = netsuite_credentials(
        Settings(environment="dev", erp_certificate_id="cert", erp_private_key_file=key)
    )
    assert isinstance(oauth2, OAuth2Credentials) and oauth2.certificate_id == "cert"
    tba_settings = Settings(
        environment="dev",
        erp_auth="tba",
        erp_account_id="1234567-sb1",
        erp_consumer_key="ck",
        erp_consumer_secret="consumer-secret-1",
        erp_token_id="tk",
        erp_token_secret="token-secret-2",
    )
    tba = netsuite_credentials(tba_settings)
    assert isinstance(tba, TbaCredentials) and tba.realm == "1234567_SB1"
    for shown in (repr(tba_settings), repr(tba), repr(oauth2)):
        assert "consumer-secret-1" not in shown and "token-secret-2" not in shown
        assert "PRIVATE KEY" not in shown


def test_a_missing_key_file_stops_the_worker_with_its_name(tmp_path: Path) -> None:
    settings = Settings(
        environment="dev", erp_certificate_id="cert", erp_private_key_file=tmp_path / "gone.pem"
    )
    with pytest.raises(CredentialError, match=r"gone\.pem"):
        netsuite_credentials(settings)


def test_a_stack_env_gives_the_settings_its_worker_has() -> None:
    settings = Settings.from_env_values(
        {
            "SYNCLINE_ENVIRONMENT": "dev",
            "SYNCLINE_ERP_AUTH": "tba",
            "SYNCLINE_ERP_TOKEN_SECRET": "ts",
            "SYNCLINE_ERP_PRIVATE_KEY_FILE": "",
            "UNRELATED": "x",
        }
    )
    assert settings.erp_auth == "tba" and settings.erp_token_secret.get_secret_value() == "ts"
    assert settings.erp_private_key_file is None


@pytest.mark.parametrize("name", ["TEMPORAL_ADDRESS", "SYNCLINE_TEMPORAL_ADDRESS"])
def test_a_stack_env_names_temporal_by_either_of_its_names(name: str) -> None:
    """``dev.env`` writes ``TEMPORAL_ADDRESS``, as the Temporal CLI reads it."""
    env = {name: "127.0.0.1:17233", "TEMPORAL_NAMESPACE": "x", "SYNCLINE_ENVIRONMENT": "dev"}
    settings = Settings.from_env_values(env)
    assert (settings.temporal_address, settings.temporal_namespace) == ("127.0.0.1:17233", "x")
