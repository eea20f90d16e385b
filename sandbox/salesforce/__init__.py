"""A local Salesforce-compatible CRM (REST API v59.0 shape) for the demo and the tests."""

from sandbox.salesforce.server import SalesforceSandboxConfig, app_from_env, build_app
from sandbox.salesforce.webhooks import sign

__all__ = ["SalesforceSandboxConfig", "app_from_env", "build_app", "sign"]
