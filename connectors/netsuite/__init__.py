"""NetSuite (SuiteTalk REST) connector: the ``ErpClient`` for NetSuite-shaped ERPs."""

from connectors.netsuite.client import NetSuiteClient
from connectors.netsuite.errors import map_error

__all__ = ["NetSuiteClient", "map_error"]
