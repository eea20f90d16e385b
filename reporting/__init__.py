"""Governed revenue reporting: versioned metric definitions, reports computed from the
event ledger alone, and the ledger's export to Parquet for a data warehouse."""
