"""Canonical data of Syncline: plain pydantic models, business events and tables.

Nothing here performs I/O; every other layer may import it.
"""
