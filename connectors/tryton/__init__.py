"""Tryton as the ERP, over its REST API (``/<database>/rest/model/...``)."""

from connectors.tryton.client import TrytonClient

__all__ = ["TrytonClient"]
