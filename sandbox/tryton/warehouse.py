"""A storekeeper at the Tryton desk: stock counted in, customer shipments sent.

Tests and demos ship a sale's goods as a Tryton warehouse user does it, through the
same JSON-RPC session as the accountant (``TrytonAccountant``), pressing the buttons
the shipment form shows: the "Assign" wizard (which, when stock is short, offers to
ignore what it could not reserve: a partial shipment), then "Pick", "Pack" and "Do".
Nothing is forced: a real server refuses what this refuses.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sandbox.tryton.accountant import Record, TrytonAccountant


class TrytonWarehouse:
    """The stock buttons of the Tryton client, over an accountant's RPC session."""

    def __init__(self, desk: TrytonAccountant) -> None:
        self._desk = desk

    async def _search_read(self, model: str, domain: list[Any], fields: list[str]) -> list[Record]:
        records: list[Record] = await self._desk.call(
            f"model.{model}.search_read", domain, 0, None, None, fields
        )
        return records

    async def _storage(self) -> int:
        """The storage zone of the company's warehouse, where counted stock lies."""
        (warehouse,) = await self._search_read(
            "stock.location", [("type", "=", "warehouse")], ["storage_location"]
        )
        return int(warehouse["storage_location"])

    async def count_in(self, product_id: int, quantity: Decimal) -> None:
        """Put ``quantity`` of a product on the shelf as a stock count does: an inventory
        of the storage zone with one line, confirmed (Tryton books the difference from
        its lost-and-found location)."""
        (inventory_id,) = await self._desk.call(
            "model.stock.inventory.create",
            [
                {
                    "location": await self._storage(),
                    "date": dt.date.today(),
                    "lines": [["create", [{"product": product_id, "quantity": float(quantity)}]]],
                }
            ],
        )
        await self._desk.call("model.stock.inventory.confirm", [inventory_id])

    async def waiting_shipments(self, sale_id: int) -> list[int]:
        """The sale's customer shipments waiting to be assigned (Tryton makes them when
        it processes the sale, and a back-order for what a partial shipment left)."""
        (sale,) = await self._desk.call("model.sale.sale.read", [sale_id], ["shipments"])
        if not sale["shipments"]:
            return []
        waiting = await self._search_read(
            "stock.shipment.out", [("id", "in", sale["shipments"]), ("state", "=", "waiting")], []
        )
        return sorted(int(shipment["id"]) for shipment in waiting)

    async def ship(self, shipment_id: int) -> bool:
        """Send one waiting shipment: assign, pick, pack, do. What the stock cannot
        cover is ignored in the assign wizard (quantity 0), so the shipment leaves
        with what there is and Tryton re-plans the rest for the sale. Whether the
        whole shipment could be assigned."""
        full = await self._assign(shipment_id)
        for button in ("pick", "pack", "do"):
            await self._desk.call(f"model.stock.shipment.out.{button}", [shipment_id])
        return full

    async def _assign(self, shipment_id: int) -> bool:
        async with self._desk.record_wizard(
            "wizard.stock.shipment.assign", "stock.shipment.out", shipment_id
        ) as session:
            shown = await session.execute({}, session.start_state)
            if "view" not in shown:
                return True  # assigned in full: the wizard ended at once
            partial = shown["view"]["defaults"]
            await session.execute({"partial": {"moves": partial["moves"]}}, "ignore")
            return False
