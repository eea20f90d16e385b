"""The SOQL parser on its own: the AST it builds and the syntax it refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sandbox.salesforce import soql
from sandbox.salesforce.errors import SalesforceApiError
from sandbox.salesforce.query import _like_regex


def test_select_fields_relationships_order_limit_offset() -> None:
    query = soql.parse(
        "select Id, Product2.ProductCode, Opportunity.Account.Name from OpportunityLineItem "
        "order by CreatedDate desc nulls first, Id limit 10 offset 5"
    )
    assert query.sobject == "OpportunityLineItem"
    assert [f.path for f in query.fields] == [
        ("Id",),
        ("Product2", "ProductCode"),
        ("Opportunity", "Account", "Name"),
    ]
    assert query.where is None
    assert query.order_by == (
        soql.OrderItem(soql.FieldRef(("CreatedDate",)), descending=True, nulls_last=False),
        soql.OrderItem(soql.FieldRef(("Id",)), descending=False, nulls_last=False),
    )
    assert (query.limit, query.offset) == (10, 5)


def test_where_with_every_literal_kind() -> None:
    query = soql.parse(
        "SELECT Id FROM Opportunity WHERE Name = 'O\\'Brien \\\\ Co' AND Amount >= -12.50 "
        "AND CloseDate < 2026-12-31 AND LastModifiedDate > 2026-11-23T10:00:00Z "
        "AND IsWon = TRUE AND AccountId != null AND CreatedDate = LAST_N_DAYS:7"
    )
    assert isinstance(query.where, soql.BoolOp) and query.where.op == "AND"
    values = [c.value for c in query.where.operands if isinstance(c, soql.Comparison)]
    assert values == [
        soql.Value("string", "O'Brien \\ Co"),
        soql.Value("number", Decimal("-12.50")),
        soql.Value("date", date(2026, 12, 31)),
        soql.Value("datetime", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        soql.Value("boolean", True),
        soql.Value("null", None),
        soql.Value("date_literal", ("LAST_N_DAYS", 7)),
    ]
    assert [c.op for c in query.where.operands if isinstance(c, soql.Comparison)] == [
        "=",
        ">=",
        "<",
        ">",
        "=",
        "!=",
        "=",
    ]


def test_datetime_offsets_are_normalised_to_utc() -> None:
    query = soql.parse("SELECT Id FROM Account WHERE CreatedDate > 2026-11-23T12:00:00+02:00")
    assert isinstance(query.where, soql.Comparison)
    assert query.where.value.value == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_in_not_in_like_not_and_parentheses() -> None:
    query = soql.parse(
        "SELECT Id FROM Account WHERE (Name LIKE 'Ac%' OR Name NOT LIKE '%x') "
        "AND Id IN ('001D000000IRFma', '001D000000IRFmb') AND NOT Segment__c NOT IN ('SMB')"
    )
    assert isinstance(query.where, soql.BoolOp)
    group, in_list, negation = query.where.operands
    assert isinstance(group, soql.BoolOp) and group.op == "OR"
    assert group.operands == (
        soql.Like(soql.FieldRef(("Name",)), "Ac%", negated=False),
        soql.Like(soql.FieldRef(("Name",)), "%x", negated=True),
    )
    assert isinstance(in_list, soql.InList) and not in_list.negated
    assert len(in_list.values) == 2
    assert isinstance(negation, soql.Not) and isinstance(negation.operand, soql.InList)
    assert negation.operand.negated


def test_count_forms() -> None:
    assert soql.parse("SELECT COUNT() FROM Account").count == soql.Count(None)
    assert soql.parse("SELECT count(Id) FROM Account").count == soql.Count(soql.FieldRef(("Id",)))


def test_not_equal_spelled_with_angle_brackets() -> None:
    query = soql.parse("SELECT Id FROM Account WHERE Name <> 'x'")
    assert isinstance(query.where, soql.Comparison) and query.where.op == "!="


@pytest.mark.parametrize(
    "text",
    [
        "SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'",  # needs parens
        "SELECT FROM Account",
        "SELECT Id Account",
        "SELECT Id FROM Account WHERE",
        "SELECT Id FROM Account WHERE Name = 'unterminated",
        "SELECT Id FROM Account LIMIT x",
        "SELECT Id FROM Account GROUP BY Name",
        "SELECT Id, (SELECT Id FROM OpportunityLineItems) FROM Opportunity",
        "SELECT Id FROM Account WHERE Name = :bind",
        "SELECT Id FROM Account WHERE Name LIKE 5",
        "SELECT Id FROM Account WHERE Name = 'bad \\q escape'",
        "UPDATE Account SET Name = 'x'",
        "SELECT Id FROM Account;",
    ],
)
def test_unsupported_syntax_is_malformed_query(text: str) -> None:
    with pytest.raises(SalesforceApiError) as raised:
        soql.parse(text)
    assert raised.value.error_code == "MALFORMED_QUERY"
    assert raised.value.status_code == 400


def test_error_names_the_unexpected_token_and_column() -> None:
    with pytest.raises(SalesforceApiError) as raised:
        soql.parse("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'")
    assert "unexpected token: 'OR'" in raised.value.message
    assert "Column:56" in raised.value.message


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("Ac%", "ACME corp", True),
        ("%corp", "Acme Corp", True),
        ("A_me", "Acme", True),
        ("A_me", "Acmee", False),
        ("100\\%", "100%", True),
        ("100\\%", "1000", False),
        ("a.c", "abc", False),  # regex metacharacters are literal
    ],
)
def test_like_patterns(pattern: str, text: str, matches: bool) -> None:
    assert (_like_regex(pattern).fullmatch(text) is not None) is matches
