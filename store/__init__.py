"""Syncline's own store: the inbox, the ledger, exceptions, runs and cursors.

Tables access (``Store``), the Alembic migrations that shape them, and the ERP
concurrency governor that lives in the same database. Imports only ``models``.
"""

from store.migrate import migrate
from store.store import Store

__all__ = ["Store", "migrate"]
