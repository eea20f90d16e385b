"""Temporal activities: thin wrappers over connectors and the store, one input model each."""
