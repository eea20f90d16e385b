"""Deterministic business processes. They decide; activities do the I/O."""
