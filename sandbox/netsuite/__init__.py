"""A NetSuite-shaped ERP sandbox: SuiteTalk REST records, SuiteQL, OAuth 2.0 client
credentials, the account concurrency limit and fault injection, over SQLite."""

from sandbox.netsuite.config import NetSuiteSandboxConfig
from sandbox.netsuite.server import app_from_env, build_app

__all__ = ["NetSuiteSandboxConfig", "app_from_env", "build_app"]
