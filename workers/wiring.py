"""Builds the connectors a process needs from settings: one place, passed down."""

from __future__ import annotations

from connectors.governor import ConcurrencyGovernor, LocalGovernor
from connectors.netsuite import (
    CredentialError,
    NetSuiteClient,
    NetSuiteCredentials,
    OAuth2Credentials,
    TbaCredentials,
)
from connectors.protocols import ErpClient
from connectors.salesforce import SalesforceClient
from connectors.salesforce.auth import JwtBearer, TokenGrant
from connectors.salesforce.pubsub import PubSubClient
from models.events import SourceSystem
from store import Store
from workers.settings import Settings


def build_store(settings: Settings) -> Store:
    return Store.from_url(settings.database_url)


def build_governor(settings: Settings) -> ConcurrencyGovernor:
    use_postgres = settings.erp_governor == "postgres" or (
        settings.erp_governor == "auto" and settings.uses_postgres
    )
    if use_postgres:
        from store.pg_governor import PostgresGovernor

        return PostgresGovernor(
            settings.database_url,
            settings.erp_max_concurrency,
            scope=f"{settings.erp_base_url}|{settings.erp_client_id}",
        )
    return LocalGovernor(settings.erp_max_concurrency)


def build_crm_grant(settings: Settings) -> TokenGrant | None:
    """The JWT bearer grant when configured; None means client credentials."""
    if settings.crm_auth != "jwt":
        return None
    assert settings.crm_username is not None and settings.crm_private_key_file is not None
    return JwtBearer(
        settings.crm_client_id,
        settings.crm_username,
        settings.crm_private_key_file.read_bytes(),
        settings.crm_jwt_audience or settings.crm_base_url,
    )


def build_crm(settings: Settings) -> SalesforceClient:
    return SalesforceClient(
        settings.crm_base_url,
        settings.crm_client_id,
        settings.crm_client_secret.get_secret_value(),
        client_name=settings.crm_client_name,
        grant=build_crm_grant(settings),
    )


def build_pubsub(settings: Settings, crm: SalesforceClient) -> PubSubClient | None:
    """The CRM's change event API when the stream is on, logged in as ``crm`` is."""
    if settings.crm_stream != "pubsub":
        return None
    return PubSubClient(settings.crm_pubsub_address, crm, tls=settings.crm_pubsub_tls)


def netsuite_credentials(settings: Settings) -> NetSuiteCredentials:
    """The chosen way into NetSuite; ``CredentialError`` names what is missing or wrong
    (a key NetSuite would refuse fails here, at start-up, not at the first deal)."""
    if settings.erp_auth == "tba":
        return TbaCredentials(
            account_id=settings.erp_account_id,
            consumer_key=settings.erp_consumer_key,
            consumer_secret=settings.erp_consumer_secret.get_secret_value(),
            token_id=settings.erp_token_id,
            token_secret=settings.erp_token_secret.get_secret_value(),
        )
    if settings.erp_private_key_file is None:
        raise CredentialError("SYNCLINE_ERP_PRIVATE_KEY_FILE is not set")
    return OAuth2Credentials.from_key_file(
        settings.erp_client_id, settings.erp_certificate_id, settings.erp_private_key_file
    )


def build_netsuite(
    settings: Settings, governor: ConcurrencyGovernor | None = None
) -> NetSuiteClient:
    return NetSuiteClient(
        settings.erp_base_url,
        netsuite_credentials(settings),
        governor=governor,
        subsidiary_id=settings.erp_subsidiary_id,
    )


def build_erp(settings: Settings, governor: ConcurrencyGovernor) -> tuple[ErpClient, SourceSystem]:
    if settings.erp_kind == "tryton":
        from connectors.tryton import TrytonClient

        tryton = TrytonClient(
            settings.erp_base_url,
            settings.erp_database,
            settings.erp_client_secret.get_secret_value(),
            company_id=settings.erp_company,
            governor=governor,
        )
        return tryton, SourceSystem.TRYTON
    return build_netsuite(settings, governor), SourceSystem.NETSUITE
