from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.governor import LocalGovernor
from store.pg_governor import PostgresGovernor
from workers.settings import Settings
from workers.wiring import build_governor

PG = "postgresql+asyncpg://u@127.0.0.1/db"


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCLINE_API_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="SYNCLINE_API_TOKEN"):
        Settings(environment="production")


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
            erp_client_secret="e",
            webhook_secret_previous=previous,
        )

    with pytest.raises(ValidationError, match="SYNCLINE_WEBHOOK_SECRET_PREVIOUS"):
        production("change-me")
    assert production("old-secret").webhook_secrets == [
        "new-secret",
        "old-secret",
    ]
