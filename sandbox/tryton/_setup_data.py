"""Fills a database that trytond-admin has just created with what Syncline needs.

Runs as its own process (``python -m sandbox.tryton._setup_data < request.json``)
because trytond keeps its configuration and model pool in process-global state.
The request on stdin names the config file, the database, the company, the
catalog and the REST key; the result (the company id) goes to stdout as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from typing import Any

from proteus import Model, config  # type: ignore[import-untyped]
from trytond.modules.account.tests.tools import (  # type: ignore[import-untyped]
    create_chart,
    create_fiscalyear,
    get_accounts,
)
from trytond.modules.account_invoice.tests.tools import (  # type: ignore[import-untyped]
    create_payment_term,
    set_fiscalyear_invoice_sequences,
)
from trytond.modules.company.tests.tools import create_company  # type: ignore[import-untyped]
from trytond.modules.currency.tests.tools import get_currency  # type: ignore[import-untyped]

# Groups of the REST user. "Sales" grants sale.sale and its buttons; parties,
# addresses and products carry no access restriction for reading and creating
# parties. Tryton has no read-only accounting group ("Account" may post invoices and
# write moves), so the user gets a group of its own that may only read the moves and
# move lines that pay invoices (the payment records collections are counted from).
SYNCLINE_GROUPS = (("sale", "group_sale"),)
PAYMENT_READER_GROUP = "Syncline: read payments"
PAYMENT_READER_MODELS = ("account.move", "account.move.line")
SYNCLINE_LOGIN = "syncline"


def _create_fiscal_years(company: Any, years: list[int]) -> None:
    for year in years:
        fiscal_year = create_fiscalyear(company, today=(dt.date(year, 1, 1), dt.date(year, 12, 31)))
        set_fiscalyear_invoice_sequences(fiscal_year)
        fiscal_year.save()
        fiscal_year.click("create_period")


def _create_payment_method(company: Any, cash_account: Any) -> None:
    journal = Model.get("account.journal")
    payment_method = Model.get("account.invoice.payment.method")
    cash_journal, *_ = journal.find([("type", "=", "cash")], limit=1)
    method = payment_method(name="Cash", company=company, journal=cash_journal)
    method.credit_account = cash_account
    method.debit_account = cash_account
    method.save()


def _set_defaults(payment_term: Any) -> None:
    account_config = Model.get("account.configuration")(1)
    account_config.default_customer_payment_term = payment_term
    account_config.save()
    # "order": a confirmed sale gets its invoice at once, not after shipment.
    sale_config = Model.get("sale.configuration")(1)
    sale_config.sale_invoice_method = "order"
    sale_config.sale_shipment_method = "order"
    sale_config.save()


def _create_account_category(accounts: dict[str, Any]) -> Any:
    category = Model.get("product.category")(name="Syncline services", accounting=True)
    category.account_revenue = accounts["revenue"]
    category.account_expense = accounts["expense"]
    category.save()
    return category


def _create_products(catalog: list[dict[str, str]], category: Any) -> None:
    template_model = Model.get("product.template")
    unit, *_ = Model.get("product.uom").find([("name", "=", "Unit")], limit=1)
    for item in catalog:
        template = template_model(
            name=item["name"],
            code=item["sku"],
            type="service",
            salable=True,
            default_uom=unit,
            sale_uom=unit,
            list_price=Decimal(item["price"]),
            account_category=category,
        )
        template.save()


def _payment_reader_group() -> Any:
    """A group that may read moves and move lines, nothing more."""
    group = Model.get("res.group")(name=PAYMENT_READER_GROUP)
    group.save()
    access_model = Model.get("ir.model.access")
    for model in PAYMENT_READER_MODELS:
        access_model(
            model=model,
            group=group,
            perm_read=True,
            perm_write=False,
            perm_create=False,
            perm_delete=False,
        ).save()
    return group


def _create_rest_user(company: Any, application_key: str) -> None:
    model_data = Model.get("ir.model.data")
    group_model = Model.get("res.group")
    user = Model.get("res.user")(name="Syncline integration", login=SYNCLINE_LOGIN)
    for module, xml_id in SYNCLINE_GROUPS:
        user.groups.append(group_model(model_data.get_id(module, xml_id, {})))
    user.groups.append(_payment_reader_group())
    user.companies.append(company)
    user.company = company
    user.save()
    application = Model.get("res.user.application")(
        user=user, application="rest", key=application_key
    )
    application.save()
    assert application.state == "validated"


def setup(request: dict[str, Any]) -> dict[str, Any]:
    config.set_trytond(database=request["database"], config_file=request["config_file"])
    party = Model.get("party.party")(name=request["company_name"])
    party.save()
    currency = get_currency(request["currency"])
    create_company(party=party, currency=currency)
    company, *_ = Model.get("company.company").find([("party", "=", party.id)])
    create_chart(company)
    today = dt.datetime.now(dt.UTC).date()
    _create_fiscal_years(company, [today.year, today.year + 1])
    accounts = get_accounts(company)
    _create_payment_method(company, accounts["cash"])
    payment_term = create_payment_term()
    payment_term.save()
    _set_defaults(payment_term)
    _create_products(request["catalog"], _create_account_category(accounts))
    _create_rest_user(company, request["application_key"])
    return {"company_id": company.id}


if __name__ == "__main__":
    json.dump(setup(json.load(sys.stdin)), sys.stdout)
