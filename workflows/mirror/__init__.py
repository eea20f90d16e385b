"""The read-only mirror of one ERP customer or item onto the CRM.

Callers import ``workflows.mirror.contract`` only."""
