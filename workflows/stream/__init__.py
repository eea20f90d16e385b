"""The CRM change stream: one long-running run per Pub/Sub channel turning CRM change
events into the triggers the webhook makes.

Callers import ``workflows.stream.contract`` only."""
