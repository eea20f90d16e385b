"""What Syncline reads and writes in Salesforce, object by object, as describe shows it.

Two groups, because only the first stops a deal: what the close-won deal reads and
writes back (``DEAL``), and what the mirrors and renewals write (``MIRRORS``: the ERP's
legal customer onto the account, the catalog onto products and prices, renewal
opportunities). ``tests/unit/test_doctor_crm_needs.py`` keeps this table in step with the
connector's field lists and write bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Right = Literal["query", "create", "update"]
Write = Literal["create", "update"]

TEXT = frozenset({"string", "textarea", "picklist", "email", "phone", "url", "combobox"})
ID = frozenset({"id"})
REFERENCE = frozenset({"reference"})
MONEY = frozenset({"currency", "double", "int", "percent"})
NUMBER = frozenset({"double", "int", "currency", "percent"})
DATE = frozenset({"date"})
DATETIME = frozenset({"datetime"})
BOOLEAN = frozenset({"boolean"})


@dataclass(frozen=True)
class FieldNeed:
    name: str
    types: frozenset[str]
    """The describe types Syncline's values fit."""
    writes: frozenset[Write] = frozenset()
    external_id: bool = False
    """Looked up or upserted by: describe must say ``externalId``."""


@dataclass(frozen=True)
class ObjectNeed:
    name: str
    rights: frozenset[Right]
    fields: tuple[FieldNeed, ...]


def _read(name: str, types: frozenset[str]) -> FieldNeed:
    return FieldNeed(name, types)


def _update(name: str, types: frozenset[str]) -> FieldNeed:
    return FieldNeed(name, types, frozenset({"update"}))


def _create(name: str, types: frozenset[str], **kwargs: bool) -> FieldNeed:
    return FieldNeed(name, types, frozenset({"create"}), **kwargs)


def _upsert(name: str, types: frozenset[str], **kwargs: bool) -> FieldNeed:
    return FieldNeed(name, types, frozenset({"create", "update"}), **kwargs)


_QUERY: frozenset[Right] = frozenset({"query"})

DEAL: tuple[ObjectNeed, ...] = (
    ObjectNeed(
        "Opportunity",
        frozenset({"query", "update"}),
        (
            _read("Id", ID),
            _read("AccountId", REFERENCE),
            _read("Name", TEXT),
            _read("StageName", TEXT),
            _read("IsClosed", BOOLEAN),
            _read("IsWon", BOOLEAN),
            _read("CloseDate", DATE),
            _read("CurrencyIsoCode", TEXT),
            _read("Amount", MONEY),
            _read("LastModifiedDate", DATETIME),
            _update("Syncline_Order_Id__c", TEXT),
            _update("Syncline_Order_Number__c", TEXT),
            _update("Syncline_Order_Status__c", TEXT),
            _update("Syncline_Fulfilment_Status__c", TEXT),
            _update("Syncline_Synced_At__c", DATETIME),
            _update("Syncline_Billing_Status__c", TEXT),
            _update("Syncline_Invoiced_Amount__c", MONEY),
            _update("Syncline_Paid_Amount__c", MONEY),
            _update("Syncline_Balance__c", MONEY),
            _update("Syncline_Last_Invoice_Date__c", DATE),
        ),
    ),
    ObjectNeed(
        "OpportunityLineItem",
        _QUERY,
        (
            _read("Id", ID),
            _read("OpportunityId", REFERENCE),
            _read("Quantity", NUMBER),
            _read("UnitPrice", MONEY),
            _read("TotalPrice", MONEY),
            _read("Product2Id", REFERENCE),
            _read("ProductCode", TEXT),
            _read("CreatedDate", DATETIME),
        ),
    ),
    ObjectNeed("Product2", _QUERY, (_read("ProductCode", TEXT), _read("Name", TEXT))),
    ObjectNeed(
        "Account",
        _QUERY,
        (
            _read("Id", ID),
            _read("Name", TEXT),
            _read("BillingStreet", TEXT),
            _read("BillingCity", TEXT),
            _read("BillingState", TEXT),
            _read("BillingPostalCode", TEXT),
            _read("BillingCountry", TEXT),
            _read("Tax_Id__c", TEXT),
            _read("OwnerId", REFERENCE),
            _read("Segment__c", TEXT),
            _read("Syncline_Customer_Id__c", TEXT),
            _read("Syncline_Legal_Name__c", TEXT),
        ),
    ),
)

MIRRORS: tuple[ObjectNeed, ...] = (
    ObjectNeed(
        "Account",
        frozenset({"query", "update"}),
        (
            _update("Syncline_Legal_Name__c", TEXT),
            _update("BillingStreet", TEXT),
            _update("BillingCity", TEXT),
            _update("BillingState", TEXT),
            _update("BillingPostalCode", TEXT),
            _update("BillingCountry", TEXT),
            _update("Tax_Id__c", TEXT),
            _update("Syncline_Customer_Id__c", TEXT),
            _update("Syncline_Legal_Synced_At__c", DATETIME),
        ),
    ),
    ObjectNeed(
        "Product2",
        frozenset({"query", "create", "update"}),
        (
            _upsert("Syncline_Item_Id__c", TEXT, external_id=True),
            _upsert("Name", TEXT),
            _upsert("ProductCode", TEXT),
            _upsert("IsActive", BOOLEAN),
        ),
    ),
    ObjectNeed("Pricebook2", _QUERY, (_read("Id", ID), _read("IsStandard", BOOLEAN))),
    ObjectNeed(
        "PricebookEntry",
        frozenset({"query", "create", "update"}),
        (
            _read("Id", ID),
            _create("Pricebook2Id", REFERENCE),
            _create("Product2Id", REFERENCE),
            _create("CurrencyIsoCode", TEXT),
            _upsert("UnitPrice", MONEY),
            _upsert("IsActive", BOOLEAN),
        ),
    ),
    ObjectNeed(
        "Opportunity",
        frozenset({"query", "create"}),
        (
            _create("Name", TEXT),
            _create("AccountId", REFERENCE),
            _create("StageName", TEXT),
            _create("CloseDate", DATE),
            _create("Amount", MONEY),
            _create("CurrencyIsoCode", TEXT),
            _create("Syncline_Renewal_Of__c", REFERENCE),
            _create("Syncline_Subscription_Id__c", TEXT),
            _create("External_Id__c", TEXT, external_id=True),
        ),
    ),
)

_RIGHT_FLAGS: dict[Right, tuple[str, str]] = {
    "query": ("queryable", "query"),
    "create": ("createable", "create"),
    "update": ("updateable", "update"),
}
_WRITE_FLAGS: dict[Write, str] = {"create": "createable", "update": "updateable"}


def object_problems(need: ObjectNeed, describe: dict[str, object]) -> list[str]:
    """What ``describe`` (as the integration user sees the object) lacks, in words."""
    denied = [
        verb
        for right, (flag, verb) in _RIGHT_FLAGS.items()
        if right in need.rights and not describe.get(flag)
    ]
    problems = [f"the user may not {' or '.join(denied)} {need.name} records"] if denied else []
    raw = describe.get("fields")
    described = {
        str(f.get("name", "")).lower(): f
        for f in (raw if isinstance(raw, list) else [])
        if isinstance(f, dict)
    }
    missing: list[str] = []
    for field in need.fields:
        found = described.get(field.name.lower())
        if found is None:
            missing.append(field.name)
            continue
        kind = found.get("type")
        if kind not in field.types:
            problems.append(f"{field.name} is of type {kind}, Syncline needs {_types(field)}")
        for write in sorted(field.writes):
            if not found.get(_WRITE_FLAGS[write]):
                problems.append(f"{field.name} is not {_WRITE_FLAGS[write]} for the user")
        if field.external_id and not found.get("externalId"):
            problems.append(f"{field.name} is not an External ID field")
    if missing:
        problems.insert(0, f"missing or hidden from the user: {', '.join(missing)}")
    return problems


def _types(field: FieldNeed) -> str:
    return " or ".join(sorted(field.types))
