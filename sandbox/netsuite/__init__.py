"""A NetSuite-shaped ERP sandbox: SuiteTalk REST records, SuiteQL, OAuth 2.0 client
credentials (JWT assertions) and token-based authentication, the account concurrency
limit and fault injection, over SQLite.

Sales orders follow a real ERP's rules (a billed order cannot be cancelled or
re-lined) and start a SuiteBilling-style ``subscription`` when they sell recurring
items (an item's ``custitem_term_months``)."""

from sandbox.netsuite.config import NetSuiteSandboxConfig
from sandbox.netsuite.server import app_from_env, build_app

__all__ = ["NetSuiteSandboxConfig", "app_from_env", "build_app"]
