"""Field-level security of the API user, as an admin sets it in a profile or permission set.

The org's schema is fixed (``schema.py``), yet the first real install of Syncline meets
an org where an admin forgot to grant a field, or never created it: to the API user the
two look the same. A field the user may not read is absent from describe and unknown to
SOQL, record reads and writes, with Salesforce's own errors; a field the user may only
read shows ``createable``/``updateable`` false in describe and a write to it is refused.
Set at run time through ``PUT /admin/field-security`` (tests, demos of ``syncline
doctor``); everything is editable until then.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from sandbox.salesforce.errors import SalesforceApiError, bad_request
from sandbox.salesforce.schema import FieldDef, ObjectDef

if TYPE_CHECKING:
    from sandbox.salesforce.query import BoundQuery

Access = Literal["edit", "read", "none"]


class FieldSecurity:
    def __init__(self) -> None:
        self._access: dict[tuple[str, str], Access] = {}
        self._lock = threading.Lock()

    def set(self, obj: ObjectDef, field: FieldDef, access: Access) -> None:
        with self._lock:
            if access == "edit":
                self._access.pop((obj.name, field.name), None)
            else:
                self._access[(obj.name, field.name)] = access

    def rules(self) -> list[dict[str, str]]:
        with self._lock:
            return [
                {"object": obj, "field": field, "access": access}
                for (obj, field), access in sorted(self._access.items())
            ]

    def reset(self) -> None:
        with self._lock:
            self._access.clear()

    def _of(self, obj: ObjectDef, field: FieldDef) -> Access:
        with self._lock:
            return self._access.get((obj.name, field.name), "edit")

    def readable(self, obj: ObjectDef, field: FieldDef) -> bool:
        return self._of(obj, field) != "none"

    @property
    def open(self) -> bool:
        """Nothing restricted, as almost always: the request path skips every check."""
        return not self._access

    def readable_fields(self, obj: ObjectDef) -> list[FieldDef]:
        if self.open:
            return list(obj.fields)
        return [f for f in obj.fields if self.readable(obj, f)]

    def describe(self, obj: ObjectDef, body: dict[str, Any]) -> dict[str, Any]:
        """An object's describe as this user sees it."""
        if self.open:
            return body
        fields = []
        for described in body["fields"]:
            f = obj.field(described["name"])
            access = "edit" if f is None else self._of(obj, f)
            if access == "none":
                continue
            if access == "read":
                described = {**described, "createable": False, "updateable": False}
            fields.append(described)
        return {**body, "fields": fields}

    def check_read(self, obj: ObjectDef, fields: Iterable[FieldDef]) -> None:
        """SOQL's answer to a field the user may not see: it does not exist."""
        for f in fields:
            if not self.readable(obj, f):
                raise bad_request(
                    "INVALID_FIELD",
                    f"No such column '{f.name}' on entity '{obj.name}'. If you are attempting "
                    "to use a custom field, be sure to append the '__c' after the custom field "
                    "name.",
                    [f.name],
                )

    def check_write(self, obj: ObjectDef, body: Any) -> None:
        if self.open or not isinstance(body, Mapping):
            return  # the org's own validation refuses it with the right error
        read_only: list[str] = []
        for key in body:
            f = obj.field(str(key))
            if f is None:
                continue
            access = self._of(obj, f)
            if access == "none":
                raise bad_request(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
                )
            if access == "read":
                read_only.append(f.name)
        if read_only:
            raise SalesforceApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                read_only,
            )

    def check_query(self, bound: BoundQuery) -> None:
        """Every field a query selects, filters or orders by, along its relationship path."""
        if self.open:
            return
        paths = [*bound.select, *bound.where_paths, *(path for path, _ in bound.order)]
        if bound.count_path is not None:
            paths.append(bound.count_path)
        for path in paths:
            current = bound.obj
            for hop, target in zip(path.hops, path.objects(), strict=True):
                self.check_read(current, [hop])
                current = target
            self.check_read(current, [path.field])
