"""Renewal: one subscription term, one renewal opportunity in the CRM.

Callers import ``workflows.renewal.contract`` only."""
