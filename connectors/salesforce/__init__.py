"""The Salesforce connector: ``SalesforceClient`` implements ``CrmClient``."""

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.wire import format_datetime, parse_datetime, soql_quote

__all__ = ["SalesforceClient", "format_datetime", "parse_datetime", "soql_quote"]
