"""Reconciliation: comparing CRM, ERP and the ledger, classifying and repairing drift.

Empty until the reconciliation work lands; the package exists so the layout (and its
import rules) is fixed from the start.
"""
