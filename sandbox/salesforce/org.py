"""The org's behaviour on writes: validation, defaults, derived fields and cascades.

Every method runs inside one write transaction (``Records`` on the writer connection),
so a rule that touches several records (a line item re-totalling its opportunity) is
all-or-nothing, like a Salesforce DML statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.salesforce.errors import SalesforceApiError, bad_request, not_found
from sandbox.salesforce.ids import new_id, normalize_id
from sandbox.salesforce.schema import (
    CLOSED_LOST,
    CLOSED_WON,
    OBJECTS,
    OPPORTUNITY,
    OPPORTUNITY_LINE_ITEM,
    PRICEBOOK2,
    PRICEBOOK_ENTRY,
    PRODUCT2,
    USER_KEY_PREFIX,
    FieldDef,
    ObjectDef,
    record_attributes,
)
from sandbox.salesforce.store import Records
from sandbox.salesforce.values import coerce, format_datetime, now_utc

Doc = dict[str, Any]
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class OrgIdentity:
    org_id: str
    user_id: str
    standard_pricebook_id: str


@dataclass(frozen=True)
class RecordChange:
    """One record written by a DML statement: created (no ``old``), updated, or deleted
    (no ``new``). Record-triggered Flows and Change Data Capture read these."""

    obj: ObjectDef
    old: Doc | None
    new: Doc | None

    @property
    def record_id(self) -> str:
        doc = self.new if self.new is not None else self.old
        assert doc is not None
        return str(doc["Id"])


@dataclass
class WriteResult:
    id: str
    created: bool
    # Opportunities whose stage became Closed Won in this write, as committed.
    closed_won: list[Doc] = field(default_factory=list)
    # Every record the statement wrote, in order: the record itself, then what its
    # rules touched (a line's opportunity re-totalled, children of a cascade delete).
    # Copies kept current for display (a product's name on its lines) are not changes.
    changes: list[RecordChange] = field(default_factory=list)


def render(obj: ObjectDef, doc: Doc, fields: Iterable[FieldDef] | None = None) -> Doc:
    """A record as the REST API returns it: ``attributes`` first, then fields in order."""
    out: Doc = {"attributes": record_attributes(obj.name, doc["Id"])}
    for f in fields if fields is not None else obj.fields:
        out[f.name] = doc.get(f.name)
    return out


def _integrity(message: str, fields: list[str]) -> SalesforceApiError:
    return bad_request("FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {message}", fields)


def _delete_failed(message: str) -> SalesforceApiError:
    return bad_request("DELETE_FAILED", message)


class Org:
    def __init__(self, identity: OrgIdentity) -> None:
        self.identity = identity
        self._before: dict[str, Callable[[Records, Doc, Doc | None, set[str]], None]] = {
            OPPORTUNITY.name: self._before_opportunity,
            OPPORTUNITY_LINE_ITEM.name: self._before_line,
            PRICEBOOK_ENTRY.name: self._before_pricebook_entry,
        }
        self._after: dict[str, Callable[[Records, Doc, Doc | None, WriteResult], None]] = {
            OPPORTUNITY_LINE_ITEM.name: self._after_line,
            PRODUCT2.name: self._after_product,
        }
        # Inside a collection call: opportunity id -> price book, re-totalled once at the
        # end instead of after every line (which is quadratic in the lines).
        self._retotal_later: dict[str, str | None] | None = None

    # --- public operations --------------------------------------------------------------

    def get(self, tx: Records, obj: ObjectDef, record_id: str) -> Doc:
        canonical = normalize_id(record_id)
        doc = None if canonical is None else tx.get(obj, canonical)
        if doc is None:
            raise not_found()
        return doc

    def create(self, tx: Records, obj: ObjectDef, body: Any) -> WriteResult:
        values = self._parse(obj, body, creating=True)
        now = format_datetime(now_utc())
        user = self.identity.user_id
        doc: Doc = {f.name: f.default for f in obj.fields}
        doc.update(
            Id=new_id(obj.key_prefix),
            CreatedDate=now,
            CreatedById=user,
            LastModifiedDate=now,
            LastModifiedById=user,
            SystemModstamp=now,
        )
        if obj.field("OwnerId") is not None:
            doc["OwnerId"] = user
        doc.update(values)
        result = WriteResult(doc["Id"], created=True)
        self._validate(tx, obj, doc, None, set(values), result)
        tx.insert(obj, doc)
        result.changes.append(RecordChange(obj, None, doc))
        if after := self._after.get(obj.name):
            after(tx, doc, None, result)
        return result

    def update(self, tx: Records, obj: ObjectDef, record_id: str, body: Any) -> WriteResult:
        old = self.get(tx, obj, record_id)
        values = self._parse(obj, body, creating=False)
        now = format_datetime(now_utc())
        doc = {
            **old,
            **values,
            "LastModifiedDate": now,
            "SystemModstamp": now,
            "LastModifiedById": self.identity.user_id,
        }
        result = WriteResult(doc["Id"], created=False)
        self._validate(tx, obj, doc, old, set(values), result)
        tx.replace(obj, doc)
        result.changes.append(RecordChange(obj, old, doc))
        if after := self._after.get(obj.name):
            after(tx, doc, old, result)
        return result

    def upsert(
        self, tx: Records, obj: ObjectDef, field_name: str, value: str, body: Any
    ) -> WriteResult:
        f = obj.field(field_name)
        if f is None or not (f.external_id or f.type == "id"):
            raise SalesforceApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )
        if f.type == "id":
            return self.update(tx, obj, value, body)
        if isinstance(body, dict):
            in_body = next((v for k, v in body.items() if k.lower() == f.name.lower()), None)
            if in_body is not None and str(in_body).lower() != value.lower():
                raise bad_request(
                    "INVALID_FIELD",
                    f"The external ID field {f.name} in the body does not match the URL",
                    [f.name],
                )
        matches = tx.find(obj, f.name, value)
        if len(matches) > 1:
            urls = [record_attributes(obj.name, m["Id"])["url"] for m in matches]
            raise SalesforceApiError(
                300, "MULTIPLE_CHOICES", f"More than one record found for {f.name}", raw_body=urls
            )
        if matches:
            return self.update(tx, obj, matches[0]["Id"], body)
        if not isinstance(body, dict):
            raise bad_request("JSON_PARSER_ERROR", "The request body must be a JSON object")
        body = {k: v for k, v in body.items() if k.lower() != f.name.lower()}
        body[f.name] = value
        return self.create(tx, obj, body)

    def delete(self, tx: Records, obj: ObjectDef, record_id: str) -> WriteResult:
        doc = self.get(tx, obj, record_id)
        result = WriteResult(doc["Id"], created=False)
        self._delete(tx, obj, doc, result)
        return result

    # --- validation ---------------------------------------------------------------------

    def _parse(self, obj: ObjectDef, body: Any, *, creating: bool) -> Doc:
        if not isinstance(body, dict):
            raise bad_request("JSON_PARSER_ERROR", "The request body must be a JSON object")
        values: Doc = {}
        forbidden: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise bad_request(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
                )
            if not (f.createable if creating else f.updateable):
                forbidden.append(f.name)
                continue
            value = coerce(f, raw)
            values[f.name] = False if value is None and f.type == "boolean" else value
        if forbidden:
            raise bad_request(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(forbidden)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                forbidden,
            )
        return values

    def _validate(
        self,
        tx: Records,
        obj: ObjectDef,
        doc: Doc,
        old: Doc | None,
        changed: set[str],
        result: WriteResult,
    ) -> None:
        for name in changed:
            f = obj.field(name)
            value = doc.get(name)
            if f is None:
                continue
            # A null restricted picklist is refused too, unless "required" reports it better.
            if f.restricted and value not in f.picklist and (value is not None or not f.required):
                raise bad_request(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {value}",
                    [f.name],
                )
            if f.type == "reference" and value is not None:
                doc[name] = self._check_reference(tx, f, value)
        if before := self._before.get(obj.name):
            before(tx, doc, old, changed)
        missing = [f.name for f in obj.fields if f.required and doc.get(f.name) in (None, "")]
        if missing:
            raise bad_request(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        for f in obj.fields:
            if f.unique and f.name in changed and doc.get(f.name) is not None:
                clash = [m for m in tx.find(obj, f.name, doc[f.name]) if m["Id"] != doc["Id"]]
                if clash:
                    raise bad_request(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: "
                        f"{clash[0]['Id']}",
                        [f.name],
                    )
        if (
            obj is OPPORTUNITY
            and doc["StageName"] == CLOSED_WON
            and (old is None or old["StageName"] != CLOSED_WON)
        ):
            result.closed_won.append(doc)

    def _check_reference(self, tx: Records, f: FieldDef, value: str) -> str:
        canonical = normalize_id(value)
        if canonical is None:
            raise bad_request(
                "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name]
            )
        if f.reference_to == "User":
            valid = canonical.startswith(USER_KEY_PREFIX)
        else:
            target = OBJECTS[f.reference_to or ""]
            valid = (
                canonical.startswith(target.key_prefix) and tx.get(target, canonical) is not None
            )
        if not valid:
            raise bad_request(
                "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [f.name]
            )
        return canonical

    # --- per-object rules ---------------------------------------------------------------

    def _before_opportunity(
        self, tx: Records, doc: Doc, old: Doc | None, changed: set[str]
    ) -> None:
        doc["IsClosed"] = doc.get("StageName") in (CLOSED_WON, CLOSED_LOST)
        doc["IsWon"] = doc.get("StageName") == CLOSED_WON
        if old is None:
            return
        if tx.find(OPPORTUNITY_LINE_ITEM, "OpportunityId", doc["Id"]):
            for name in ("Amount", "CurrencyIsoCode", "Pricebook2Id"):
                if name in changed and doc.get(name) != old.get(name):
                    raise _integrity(
                        f"{name} (not editable while the opportunity has products)", [name]
                    )

    def _before_line(self, tx: Records, doc: Doc, old: Doc | None, changed: set[str]) -> None:
        if old is None:
            self._price_new_line(tx, doc)
        quantity, unit_price = doc.get("Quantity"), doc.get("UnitPrice")
        if unit_price is None and doc.get("OpportunityId"):
            raise bad_request(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", ["UnitPrice"]
            )
        if quantity is not None and quantity == 0:
            raise _integrity("Quantity (quantity must be nonzero)", ["Quantity"])
        if quantity is not None and unit_price is not None:
            doc["TotalPrice"] = (quantity * unit_price).quantize(_CENT, rounding=ROUND_HALF_UP)

    def _price_new_line(self, tx: Records, doc: Doc) -> None:
        opportunity = tx.get(OPPORTUNITY, doc.get("OpportunityId") or "")
        if opportunity is None:
            return  # reported as REQUIRED_FIELD_MISSING by the caller
        currency = opportunity["CurrencyIsoCode"]
        pricebook_id = opportunity.get("Pricebook2Id")
        entry: Doc | None
        if doc.get("PricebookEntryId"):
            entry = tx.get(PRICEBOOK_ENTRY, doc["PricebookEntryId"])
            assert entry is not None  # checked as a reference just before
            if doc.get("Product2Id") and doc["Product2Id"] != entry["Product2Id"]:
                raise _integrity("Product2Id (does not match the price book entry)", ["Product2Id"])
        elif doc.get("Product2Id"):
            candidates = [
                e
                for e in tx.find(PRICEBOOK_ENTRY, "Product2Id", doc["Product2Id"])
                if e["CurrencyIsoCode"] == currency
                and e["IsActive"]
                and e["Pricebook2Id"] == (pricebook_id or self.identity.standard_pricebook_id)
            ]
            if not candidates:
                raise _integrity(
                    "PricebookEntryId (no active price book entry for this product "
                    "in the opportunity's price book and currency)",
                    ["PricebookEntryId"],
                )
            entry = candidates[0]
        else:
            raise bad_request(
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [PricebookEntryId]",
                ["PricebookEntryId"],
            )
        if not entry["IsActive"]:
            raise _integrity("PricebookEntryId (pricebook entry is inactive)", ["PricebookEntryId"])
        if entry["CurrencyIsoCode"] != currency:
            raise _integrity(
                "PricebookEntryId (pricebook entry currency code does not match "
                "opportunity currency code)",
                ["PricebookEntryId"],
            )
        if pricebook_id and entry["Pricebook2Id"] != pricebook_id:
            raise _integrity(
                "PricebookEntryId (pricebook entry is in a different pricebook "
                "than the one assigned to the opportunity)",
                ["PricebookEntryId"],
            )
        product = tx.get(PRODUCT2, entry["Product2Id"]) or {}
        doc.update(
            PricebookEntryId=entry["Id"],
            Product2Id=entry["Product2Id"],
            ProductCode=product.get("ProductCode"),
            Name=product.get("Name"),
            ListPrice=entry["UnitPrice"],
            CurrencyIsoCode=currency,
        )
        if doc.get("UnitPrice") is None:
            doc["UnitPrice"] = entry["UnitPrice"]

    def _after_line(self, tx: Records, doc: Doc, old: Doc | None, result: WriteResult) -> None:
        pricebook_id = self._entry_pricebook(tx, doc)
        if self._retotal_later is not None:
            self._retotal_later.setdefault(doc["OpportunityId"], pricebook_id)
            return
        self._retotal(tx, doc["OpportunityId"], result, pricebook_id=pricebook_id)

    def create_many(
        self, tx: Records, records: Iterable[tuple[ObjectDef, Any]]
    ) -> list[WriteResult]:
        """One statement over many records (sObject Collections): each opportunity
        is re-totalled once, its change reported with the last record's result."""
        self._retotal_later = {}
        try:
            results = [self.create(tx, obj, body) for obj, body in records]
            for opportunity_id, pricebook_id in self._retotal_later.items():
                self._retotal(tx, opportunity_id, results[-1], pricebook_id=pricebook_id)
        finally:
            self._retotal_later = None
        return results

    def _entry_pricebook(self, tx: Records, line: Doc) -> str | None:
        entry = tx.get(PRICEBOOK_ENTRY, line["PricebookEntryId"])
        return None if entry is None else str(entry["Pricebook2Id"])

    def _retotal(
        self,
        tx: Records,
        opportunity_id: str,
        result: WriteResult,
        pricebook_id: str | None = None,
    ) -> None:
        """Amount is the sum of the lines' totals once an opportunity has products."""
        old = tx.get(OPPORTUNITY, opportunity_id)
        if old is None:
            return
        opportunity = dict(old)
        lines = tx.find(OPPORTUNITY_LINE_ITEM, "OpportunityId", opportunity_id)
        opportunity["Amount"] = sum((line["TotalPrice"] for line in lines), Decimal("0.00"))
        if pricebook_id and not opportunity.get("Pricebook2Id"):
            opportunity["Pricebook2Id"] = pricebook_id
        now = format_datetime(now_utc())
        opportunity.update(LastModifiedDate=now, SystemModstamp=now)
        tx.replace(OPPORTUNITY, opportunity)
        result.changes.append(RecordChange(OPPORTUNITY, old, opportunity))

    def _before_pricebook_entry(
        self, tx: Records, doc: Doc, old: Doc | None, changed: set[str]
    ) -> None:
        standard_id = self.identity.standard_pricebook_id
        is_standard = doc.get("Pricebook2Id") == standard_id
        if doc.get("UseStandardPrice") and is_standard:
            raise _integrity(
                "UseStandardPrice (not allowed in the standard price book)", ["UseStandardPrice"]
            )
        if old is None and doc.get("Product2Id") and doc.get("Pricebook2Id"):
            same = [
                e
                for e in tx.find(PRICEBOOK_ENTRY, "Product2Id", doc["Product2Id"])
                if e["CurrencyIsoCode"] == doc["CurrencyIsoCode"]
            ]
            if any(e["Pricebook2Id"] == doc["Pricebook2Id"] for e in same):
                raise bad_request(
                    "DUPLICATE_VALUE",
                    "This price definition already exists in this price book",
                    ["Product2Id"],
                )
            standard = next((e for e in same if e["Pricebook2Id"] == standard_id), None)
            if not is_standard and standard is None:
                raise bad_request(
                    "STANDARD_PRICE_NOT_DEFINED",
                    "Before creating a custom price, create a standard price.",
                    ["Product2Id"],
                )
            if doc.get("UseStandardPrice") and standard is not None:
                doc["UnitPrice"] = standard["UnitPrice"]
            product = tx.get(PRODUCT2, doc["Product2Id"]) or {}
            doc.update(Name=product.get("Name"), ProductCode=product.get("ProductCode"))
        if doc.get("UnitPrice") is None:
            raise bad_request(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", ["UnitPrice"]
            )

    def _after_product(self, tx: Records, doc: Doc, old: Doc | None, result: WriteResult) -> None:
        # Entries and lines show the product's name and code; keep the copies current.
        if old is None or (old["Name"], old["ProductCode"]) == (doc["Name"], doc["ProductCode"]):
            return
        for obj in (PRICEBOOK_ENTRY, OPPORTUNITY_LINE_ITEM):
            for row in tx.find(obj, "Product2Id", doc["Id"]):
                row.update(Name=doc["Name"], ProductCode=doc["ProductCode"])
                tx.replace(obj, row)

    # --- deletes ------------------------------------------------------------------------

    def _delete(self, tx: Records, obj: ObjectDef, doc: Doc, result: WriteResult) -> None:
        record_id = doc["Id"]
        if obj.name == "Account":
            for opportunity in tx.find(OPPORTUNITY, "AccountId", record_id):
                self._delete(tx, OPPORTUNITY, opportunity, result)
        elif obj is OPPORTUNITY:
            for line in tx.find(OPPORTUNITY_LINE_ITEM, "OpportunityId", record_id):
                self._remove(tx, OPPORTUNITY_LINE_ITEM, line, result)
            self._clear_renewal_links(tx, record_id, result)
        elif obj is PRODUCT2 or obj is PRICEBOOK_ENTRY:
            if tx.find(OPPORTUNITY_LINE_ITEM, f"{obj.name}Id", record_id):
                raise _delete_failed(f"This {obj.label.lower()} is used on opportunities")
            if obj is PRODUCT2:
                for entry in tx.find(PRICEBOOK_ENTRY, "Product2Id", record_id):
                    self._remove(tx, PRICEBOOK_ENTRY, entry, result)
        elif obj is PRICEBOOK2:
            if doc.get("IsStandard"):
                raise _delete_failed("The standard price book cannot be deleted")
            entries = tx.find(PRICEBOOK_ENTRY, "Pricebook2Id", record_id)
            for entry in entries:
                if tx.find(OPPORTUNITY_LINE_ITEM, "PricebookEntryId", entry["Id"]):
                    raise _delete_failed("This price book is used on opportunities")
            for entry in entries:
                self._remove(tx, PRICEBOOK_ENTRY, entry, result)
        self._remove(tx, obj, doc, result)
        if obj is OPPORTUNITY_LINE_ITEM:
            self._retotal(tx, doc["OpportunityId"], result)

    def _remove(self, tx: Records, obj: ObjectDef, doc: Doc, result: WriteResult) -> None:
        tx.delete(obj, doc["Id"])
        result.changes.append(RecordChange(obj, doc, None))

    def _clear_renewal_links(self, tx: Records, opportunity_id: str, result: WriteResult) -> None:
        """A lookup to a deleted record is cleared, as Salesforce does by default."""
        for renewal in tx.find(OPPORTUNITY, "Syncline_Renewal_Of__c", opportunity_id):
            if renewal["Id"] == opportunity_id:
                continue  # deleted itself in a moment
            cleared = {**renewal, "Syncline_Renewal_Of__c": None}
            cleared["SystemModstamp"] = format_datetime(now_utc())
            tx.replace(OPPORTUNITY, cleared)
            result.changes.append(RecordChange(OPPORTUNITY, renewal, cleared))
