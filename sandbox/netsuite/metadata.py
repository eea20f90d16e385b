"""The metadata catalog and ``governanceLimits``: what an integration asks before its first
write, to learn whether the account has the records, custom fields and concurrency it needs.

``GET /services/rest/record/v1/metadata-catalog`` lists the record types;
``…/metadata-catalog/<type>`` with ``Accept: application/schema+json`` describes one as
JSON Schema (``properties``; a custom field carries ``x-ns-custom-field``; a sublist is an
object whose ``items`` array describes its lines), as NetSuite does. Only that format is
served: the OpenAPI one (``application/swagger+json``) is answered 406. The fields listed
are the ones the sandbox's records hold, custom fields included (``custentity_tax_id``,
``custitem_*``, and the ``custcol_*`` sourced onto transaction lines).

``GET /services/rest/system/v1/governanceLimits`` reports the sandbox's concurrency limit
as the account's, with no share allocated to the integration.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from sandbox.netsuite import records
from sandbox.netsuite.errors import NetSuiteError
from sandbox.netsuite.state import NetSuiteSandbox

CATALOG_PATH = f"{records.RECORD_PATH}/metadata-catalog"
GOVERNANCE_PATH = "/services/rest/system/v1/governanceLimits"
SCHEMA_MEDIA_TYPE = "application/schema+json"
OPENAPI_MEDIA_TYPE = "application/swagger+json"

Schema = dict[str, Any]


def _text(title: str) -> Schema:
    return {"title": title, "type": "string", "nullable": True}


def _date(title: str) -> Schema:
    return {"title": title, "type": "string", "format": "date", "nullable": True}


def _number(title: str) -> Schema:
    return {"title": title, "type": "number", "format": "double", "nullable": True}


def _boolean(title: str) -> Schema:
    return {"title": title, "type": "boolean"}


def _ref(title: str) -> Schema:
    """A record reference or a select field: ``{"id", "refName"}``."""
    return {
        "title": title,
        "type": "object",
        "properties": {"id": {"type": "string"}, "refName": {"type": "string"}},
    }


def _custom(schema: Schema) -> Schema:
    return {**schema, "x-ns-custom-field": True}


def _sublist(title: str, line: dict[str, Schema]) -> Schema:
    return {
        "title": title,
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "object", "properties": line}}},
    }


_COMMON = {
    "id": {"title": "Internal ID", "type": "string"},
    "externalId": _text("External ID"),
    "createdDate": {"title": "Date Created", "type": "string", "format": "date-time"},
    "lastModifiedDate": {"title": "Date Last Modified", "type": "string", "format": "date-time"},
}
_ITEM_LINE = {
    "line": {"title": "Line", "type": "integer", "format": "int64"},
    "item": _ref("Item"),
    "quantity": _number("Quantity"),
    "rate": _number("Rate"),
    "amount": _number("Amount"),
    "description": _text("Description"),
    "custcol_revenue_type": _custom(_text("Revenue Type")),
    "custcol_term_months": _custom({**_number("Term (Months)"), "type": "integer"}),
}
_TRANSACTION = {
    **_COMMON,
    "tranId": _text("Document Number"),
    "tranDate": _date("Date"),
    "currency": _ref("Currency"),
    "memo": _text("Memo"),
    "status": _ref("Status"),
    "total": _number("Total"),
}
_ITEM = {
    **_COMMON,
    "itemId": _text("Item Name/Number"),
    "displayName": _text("Display Name/Code"),
    "salesDescription": _text("Sales Description"),
    "basePrice": _number("Base Price"),
    "isInactive": _boolean("Inactive"),
    "custitem_term_months": _custom({**_number("Term (Months)"), "type": "integer"}),
    "custitem_revenue_type": _custom(_text("Revenue Type")),
}
PROPERTIES: dict[str, dict[str, Schema]] = {
    "customer": {
        **_COMMON,
        "entityId": _text("Customer ID"),
        "companyName": _text("Company Name"),
        "email": _text("Email"),
        "phone": _text("Phone"),
        "currency": _ref("Currency"),
        "subsidiary": _ref("Subsidiary"),
        "isInactive": _boolean("Inactive"),
        "comments": _text("Comments"),
        "addressBook": _sublist(
            "Address Book",
            {
                "defaultBilling": _boolean("Default Billing"),
                "defaultShipping": _boolean("Default Shipping"),
                "addressBookAddress": {
                    "title": "Address",
                    "type": "object",
                    "properties": {
                        name: _text(name)
                        for name in ("addressee", "addr1", "addr2", "city", "state", "zip")
                    }
                    | {"country": _ref("Country")},
                },
            },
        ),
        "custentity_tax_id": _custom(_text("Tax ID")),
        "creditLimit": _number("Credit Limit"),
    },
    "salesOrder": {
        **_TRANSACTION,
        "entity": _ref("Customer"),
        "otherRefNum": _text("PO #"),
        "item": _sublist("Items", _ITEM_LINE),
        "custbody_rejection_reason": _custom(_text("Rejection Reason")),
    },
    "itemFulfillment": {
        **_TRANSACTION,
        "entity": _ref("Customer"),
        "createdFrom": _ref("Created From"),
        "shipStatus": _ref("Status"),
        "item": _sublist("Items", {"item": _ref("Item"), "quantity": _number("Quantity")}),
    },
    "invoice": {
        **_TRANSACTION,
        "entity": _ref("Customer"),
        "createdFrom": _ref("Created From"),
        "dueDate": _date("Due Date"),
        "amountRemaining": _number("Amount Remaining"),
        "amountPaid": _number("Amount Paid"),
        "voided": {"title": "Voided", "type": "boolean"},
        "item": _sublist("Items", _ITEM_LINE),
    },
    "customerPayment": {
        **_TRANSACTION,
        "customer": _ref("Customer"),
        "payment": _number("Payment Amount"),
        "apply": _sublist("Apply", {"doc": _ref("Invoice"), "amount": _number("Payment")}),
    },
    "creditMemo": {
        **_TRANSACTION,
        "entity": _ref("Customer"),
        "createdFrom": _ref("Created From"),
        "amountRemaining": _number("Amount Remaining"),
        "applied": _number("Applied"),
        "unapplied": _number("Unapplied"),
        "item": _sublist("Items", _ITEM_LINE),
        "apply": _sublist("Apply", {"doc": _ref("Invoice"), "amount": _number("Payment")}),
    },
    "customerRefund": {
        **_TRANSACTION,
        "customer": _ref("Customer"),
        "apply": _sublist("Apply", {"doc": _ref("Credit Memo"), "amount": _number("Payment")}),
    },
    "inventoryItem": _ITEM,
    "nonInventorySaleItem": _ITEM,
    "subscription": {
        **_COMMON,
        "name": _text("Name"),
        "customer": _ref("Customer"),
        "salesOrder": _ref("Sales Order"),
        "currency": _ref("Currency"),
        "startDate": _date("Start Date"),
        "endDate": _date("End Date"),
        "initialTerm": _ref("Initial Term"),
        "recurringAmount": _number("Recurring Amount"),
        "billingSubscriptionStatus": _ref("Status"),
    },
}


def record_schema(record_type: records.RecordType) -> Schema:
    return {
        "type": "object",
        "properties": PROPERTIES[record_type.name],
        "$schema": "https://json-schema.org/draft-06/hyper-schema#",
    }


def metadata_router(sandbox: NetSuiteSandbox) -> APIRouter:
    router = APIRouter(tags=["metadata"], dependencies=[Depends(sandbox.auth.require)])

    @router.get(CATALOG_PATH)
    @router.get(CATALOG_PATH + "/")
    async def catalog(request: Request) -> Response:
        base = str(request.base_url).rstrip("/") + CATALOG_PATH
        selected = request.query_params.get("select")
        wanted = {n.strip().lower() for n in selected.split(",")} if selected else None
        items = [
            {
                "name": rt.name,
                "links": [
                    {"rel": rel, "href": f"{base}/{rt.name}", "mediaType": media}
                    for rel, media in (
                        ("canonical", "application/json"),
                        ("alternate", OPENAPI_MEDIA_TYPE),
                        ("describedby", SCHEMA_MEDIA_TYPE),
                    )
                ],
            }
            for rt in records.RECORD_TYPES.values()
            if wanted is None or rt.name.lower() in wanted
        ]
        return JSONResponse({"items": items})

    @router.get(CATALOG_PATH + "/{record_type}")
    async def describe(record_type: str, request: Request) -> Response:
        rt = records.resolve_type(record_type)
        if SCHEMA_MEDIA_TYPE not in request.headers.get("accept", ""):
            raise NetSuiteError(
                406,
                "INVALID_REQUEST",
                f"The sandbox describes records as JSON Schema only: send Accept: "
                f"{SCHEMA_MEDIA_TYPE}.",
            )
        return JSONResponse(record_schema(rt), media_type=SCHEMA_MEDIA_TYPE)

    @router.get(GOVERNANCE_PATH)
    async def governance_limits() -> dict[str, Any]:
        limit = sandbox.limiter.limit
        return {
            "accountConcurrencyLimit": limit,
            "accountUnallocatedConcurrencyLimit": limit,
            "integrationLimitType": "accountLimit",
        }

    return router
