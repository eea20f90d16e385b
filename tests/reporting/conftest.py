"""The end-to-end stack of tests/e2e, for the reports' end-to-end test."""

from tests.e2e.conftest import clean_faults, stack

__all__ = ["clean_faults", "stack"]
