"""The sandbox org's objects and fields, as data.

Validation, coercion, describe and SOQL all read these definitions, so adding a field
is one line here. Names are matched case-insensitively, as Salesforce does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

FieldType = Literal[
    "id",
    "string",
    "textarea",
    "picklist",
    "reference",
    "date",
    "datetime",
    "currency",
    "double",
    "boolean",
]

TEXT_TYPES: frozenset[str] = frozenset({"string", "textarea", "picklist"})
ID_TYPES: frozenset[str] = frozenset({"id", "reference"})
NUMBER_TYPES: frozenset[str] = frozenset({"currency", "double"})

CLOSED_WON = "Closed Won"
CLOSED_LOST = "Closed Lost"
STAGES: tuple[str, ...] = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    CLOSED_WON,
    CLOSED_LOST,
)
CURRENCIES: tuple[str, ...] = (
    "USD",
    "EUR",
    "GBP",
    "CAD",
    "AUD",
    "JPY",
    "CHF",
    "SEK",
    "NOK",
    "DKK",
    "NZD",
    "SGD",
    "INR",
    "BRL",
    "MXN",
)
DEFAULT_CURRENCY = "USD"
USER_KEY_PREFIX = "005"
API_VERSION = "59.0"
API_LIMIT = 15000


def record_attributes(object_name: str, record_id: str) -> dict[str, str]:
    """The ``attributes`` member Salesforce puts first in every record."""
    return {
        "type": object_name,
        "url": f"/services/data/v{API_VERSION}/sobjects/{object_name}/{record_id}",
    }


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: FieldType
    label: str = ""
    required: bool = False
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def read_only(self) -> bool:
        return not self.createable and not self.updateable

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.type == "id" or self.external_id,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": not self.required and self.type != "boolean",
            "defaultedOnCreate": self.default is not None or not self.createable,
            "length": self.length or 0,
            "precision": self.precision or 0,
            "scale": self.scale or 0,
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": value == self.default,
                    "label": value,
                    "validFor": None,
                    "value": value,
                }
                for value in self.picklist
            ],
            "defaultValue": self.default if isinstance(self.default, (str, bool)) else None,
        }


@dataclass(frozen=True)
class ObjectDef:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldDef, ...] = field(repr=False)

    @cached_property
    def _by_lower(self) -> dict[str, FieldDef]:
        return {f.name.lower(): f for f in self.fields}

    @cached_property
    def _relationships(self) -> dict[str, FieldDef]:
        return {f.relationship_name.lower(): f for f in self.fields if f.relationship_name}

    def field(self, name: str) -> FieldDef | None:
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field behind a relationship name (``Account`` for ``AccountId``)."""
        return self._relationships.get(name.lower())

    @cached_property
    def indexed_fields(self) -> tuple[FieldDef, ...]:
        """Fields looked up by value: external ids (upsert) and references (child lists)."""
        return tuple(f for f in self.fields if f.external_id or f.type == "reference")

    def describe(self, version: str) -> dict[str, Any]:
        summary = self.summary(version)
        summary["fields"] = [f.describe() for f in self.fields]
        summary["childRelationships"] = [
            {
                "childSObject": child.name,
                "field": f.name,
                "relationshipName": None,
                "cascadeDelete": True,
            }
            for child in OBJECTS.values()
            for f in child.fields
            if f.reference_to == self.name
        ]
        return summary

    def summary(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "layoutable": True,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }


def _system_fields() -> tuple[FieldDef, ...]:
    read_only: dict[str, Any] = {"createable": False, "updateable": False}
    return (
        FieldDef("Id", "id", "Record ID", length=18, **read_only),
        FieldDef("IsDeleted", "boolean", "Deleted", default=False, **read_only),
        FieldDef("CreatedDate", "datetime", "Created Date", **read_only),
        FieldDef("CreatedById", "reference", "Created By ID", reference_to="User", **read_only),
        FieldDef("LastModifiedDate", "datetime", "Last Modified Date", **read_only),
        FieldDef(
            "LastModifiedById", "reference", "Last Modified By ID", reference_to="User", **read_only
        ),
        FieldDef("SystemModstamp", "datetime", "System Modstamp", **read_only),
    )


def _owner() -> FieldDef:
    return FieldDef(
        "OwnerId", "reference", "Owner ID", reference_to="User", relationship_name="Owner"
    )


def _money(name: str, label: str, **kwargs: Any) -> FieldDef:
    return FieldDef(name, "currency", label, precision=18, scale=2, **kwargs)


def _text(name: str, label: str, length: int = 255, **kwargs: Any) -> FieldDef:
    return FieldDef(name, "string", label, length=length, **kwargs)


def _currency_code(**kwargs: Any) -> FieldDef:
    return FieldDef(
        "CurrencyIsoCode",
        "picklist",
        "Currency ISO Code",
        picklist=CURRENCIES,
        restricted=True,
        default=DEFAULT_CURRENCY,
        length=3,
        **kwargs,
    )


_READ_ONLY: dict[str, Any] = {"createable": False, "updateable": False}
_CREATE_ONLY: dict[str, Any] = {"updateable": False}

ACCOUNT = ObjectDef(
    "Account",
    "Account",
    "Accounts",
    "001",
    (
        *_system_fields(),
        _text("Name", "Account Name", required=True),
        FieldDef("BillingStreet", "textarea", "Billing Street", length=255),
        _text("BillingCity", "Billing City", 40),
        _text("BillingState", "Billing State/Province", 80),
        _text("BillingPostalCode", "Billing Zip/Postal Code", 20),
        _text("BillingCountry", "Billing Country", 80),
        _owner(),
        _text("Tax_Id__c", "Tax Id", 40),
        FieldDef(
            "Segment__c",
            "picklist",
            "Segment",
            picklist=("SMB", "Mid-Market", "Enterprise"),
            length=255,
        ),
        # A mirror of the ERP customer id: two accounts may mirror one customer, so not unique.
        _text("Syncline_Customer_Id__c", "Syncline Customer Id", 64, external_id=True),
        _text("External_Id__c", "External Id", 255, external_id=True, unique=True),
        # The ERP's legal customer, mirrored read-only by Syncline (the ERP owns it).
        _text("Syncline_Legal_Name__c", "Syncline Legal Name", 255),
        FieldDef("Syncline_Legal_Synced_At__c", "datetime", "Syncline Legal Synced At"),
    ),
)

OPPORTUNITY = ObjectDef(
    "Opportunity",
    "Opportunity",
    "Opportunities",
    "006",
    (
        *_system_fields(),
        _text("Name", "Name", 120, required=True),
        FieldDef(
            "AccountId",
            "reference",
            "Account ID",
            reference_to="Account",
            relationship_name="Account",
        ),
        FieldDef(
            "StageName",
            "picklist",
            "Stage",
            required=True,
            picklist=STAGES,
            restricted=True,
            length=255,
        ),
        FieldDef("CloseDate", "date", "Close Date", required=True),
        _money("Amount", "Amount"),
        _currency_code(),
        FieldDef("IsClosed", "boolean", "Closed", default=False, **_READ_ONLY),
        FieldDef("IsWon", "boolean", "Won", default=False, **_READ_ONLY),
        FieldDef(
            "Pricebook2Id",
            "reference",
            "Price Book ID",
            reference_to="Pricebook2",
            relationship_name="Pricebook2",
        ),
        FieldDef("Description", "textarea", "Description", length=32000),
        _owner(),
        _text("Syncline_Order_Id__c", "Syncline Order Id", 64),
        _text("Syncline_Order_Number__c", "Syncline Order Number", 64),
        _text("Syncline_Order_Status__c", "Syncline Order Status", 64),
        _text("Syncline_Fulfilment_Status__c", "Syncline Fulfilment Status", 64),
        FieldDef("Syncline_Synced_At__c", "datetime", "Syncline Synced At"),
        _text("Syncline_Billing_Status__c", "Syncline Billing Status", 32),
        _money("Syncline_Invoiced_Amount__c", "Syncline Invoiced Amount"),
        _money("Syncline_Paid_Amount__c", "Syncline Paid Amount"),
        _money("Syncline_Balance__c", "Syncline Balance"),
        FieldDef("Syncline_Last_Invoice_Date__c", "date", "Syncline Last Invoice Date"),
        # A renewal Syncline opened: the opportunity it renews and the ERP subscription.
        FieldDef(
            "Syncline_Renewal_Of__c",
            "reference",
            "Syncline Renewal Of",
            reference_to="Opportunity",
            relationship_name="Syncline_Renewal_Of__r",
        ),
        _text("Syncline_Subscription_Id__c", "Syncline Subscription Id", 64),
        _text("External_Id__c", "External Id", 255, external_id=True, unique=True),
    ),
)

PRODUCT2 = ObjectDef(
    "Product2",
    "Product",
    "Products",
    "01t",
    (
        *_system_fields(),
        _text("Name", "Product Name", required=True),
        _text("ProductCode", "Product Code"),
        FieldDef("Description", "textarea", "Product Description", length=4000),
        FieldDef("IsActive", "boolean", "Active", default=False),
        _text("Syncline_Item_Id__c", "Syncline Item Id", 64, external_id=True, unique=True),
    ),
)

PRICEBOOK2 = ObjectDef(
    "Pricebook2",
    "Price Book",
    "Price Books",
    "01s",
    (
        *_system_fields(),
        _text("Name", "Price Book Name", required=True),
        FieldDef("IsActive", "boolean", "Active", default=False),
        FieldDef("IsStandard", "boolean", "Is Standard Price Book", default=False, **_READ_ONLY),
        _text("Description", "Description"),
    ),
)

PRICEBOOK_ENTRY = ObjectDef(
    "PricebookEntry",
    "Price Book Entry",
    "Price Book Entries",
    "01u",
    (
        *_system_fields(),
        _text("Name", "Product Name", **_READ_ONLY),
        FieldDef(
            "Pricebook2Id",
            "reference",
            "Price Book ID",
            required=True,
            reference_to="Pricebook2",
            relationship_name="Pricebook2",
            **_CREATE_ONLY,
        ),
        FieldDef(
            "Product2Id",
            "reference",
            "Product ID",
            required=True,
            reference_to="Product2",
            relationship_name="Product2",
            **_CREATE_ONLY,
        ),
        _money("UnitPrice", "List Price"),
        FieldDef("IsActive", "boolean", "Active", default=False),
        FieldDef("UseStandardPrice", "boolean", "Use Standard Price", default=False),
        _currency_code(**_CREATE_ONLY),
        _text("ProductCode", "Product Code", **_READ_ONLY),
    ),
)

OPPORTUNITY_LINE_ITEM = ObjectDef(
    "OpportunityLineItem",
    "Opportunity Product",
    "Opportunity Product",
    "00k",
    (
        *_system_fields(),
        FieldDef(
            "OpportunityId",
            "reference",
            "Opportunity ID",
            required=True,
            reference_to="Opportunity",
            relationship_name="Opportunity",
            **_CREATE_ONLY,
        ),
        FieldDef(
            "PricebookEntryId",
            "reference",
            "Price Book Entry ID",
            reference_to="PricebookEntry",
            relationship_name="PricebookEntry",
            **_CREATE_ONLY,
        ),
        FieldDef(
            "Product2Id",
            "reference",
            "Product ID",
            reference_to="Product2",
            relationship_name="Product2",
            **_CREATE_ONLY,
        ),
        _text("Name", "Opportunity Product Name", 376, **_READ_ONLY),
        _text("ProductCode", "Product Code", **_READ_ONLY),
        FieldDef("Quantity", "double", "Quantity", required=True, precision=12, scale=2),
        _money("UnitPrice", "Sales Price"),
        _money("ListPrice", "List Price", **_READ_ONLY),
        _money("TotalPrice", "Total Price", **_READ_ONLY),
        FieldDef("ServiceDate", "date", "Date"),
        _text("Description", "Line Description"),
        _currency_code(**_READ_ONLY),
    ),
)

OBJECTS: dict[str, ObjectDef] = {
    o.name: o
    for o in (ACCOUNT, OPPORTUNITY, OPPORTUNITY_LINE_ITEM, PRODUCT2, PRICEBOOK_ENTRY, PRICEBOOK2)
}
_OBJECTS_LOWER = {name.lower(): o for name, o in OBJECTS.items()}
_BY_PREFIX = {o.key_prefix: o for o in OBJECTS.values()}


def find_object(name: str) -> ObjectDef | None:
    return _OBJECTS_LOWER.get(name.lower())


def object_for_id(record_id: str) -> ObjectDef | None:
    return _BY_PREFIX.get(record_id[:3])
