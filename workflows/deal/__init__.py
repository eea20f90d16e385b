"""The deal: one closed-won opportunity, its ERP order, its billing and its reversals.

Callers import ``workflows.deal.contract`` only; the workflow modules import activities."""
