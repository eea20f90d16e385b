"""NetSuite (SuiteTalk REST) connector: the ``ErpClient`` for NetSuite-shaped ERPs."""

from connectors.netsuite.client import NetSuiteClient
from connectors.netsuite.credentials import (
    CredentialError,
    NetSuiteCredentials,
    OAuth2Credentials,
    TbaCredentials,
)
from connectors.netsuite.errors import map_error

__all__ = [
    "CredentialError",
    "NetSuiteClient",
    "NetSuiteCredentials",
    "OAuth2Credentials",
    "TbaCredentials",
    "map_error",
]
