"""The ERP change feed: one long-running run per ERP turning its changes into events.

Callers import ``workflows.feed.contract`` only."""
