"""The SuiteQL tokenizer, parser and compiler, without a server."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sandbox.netsuite.query import compile_query
from sandbox.netsuite.suiteql import (
    And,
    Column,
    Comparison,
    DateLiteral,
    InList,
    IsNull,
    Like,
    Literal,
    Not,
    Or,
    OrderItem,
    Query,
    SuiteQLError,
    TimestampLiteral,
    Tok,
    parse,
    tokenize,
)


def test_tokenizer_reads_strings_numbers_and_operators() -> None:
    tokens = tokenize(
        "SELECT id FROM item WHERE itemid = 'O''Brien' AND baseprice >= 10.50 AND x != 3"
    )
    kinds = [(t.kind, t.text) for t in tokens]
    assert (Tok.STRING, "O'Brien") in kinds
    assert (Tok.NUMBER, "10.50") in kinds
    assert (Tok.OP, ">=") in kinds
    assert (Tok.OP, "<>") in kinds  # != is read as <>
    assert kinds[0] == (Tok.KEYWORD, "SELECT")
    assert kinds[-1][0] is Tok.EOF


def test_identifiers_are_case_insensitive() -> None:
    query = parse("select ID, ItemId from ITEM order by ItemId desc")
    assert query == Query(
        columns=("id", "itemid"), table="item", order_by=(OrderItem("itemid", descending=True),)
    )


def test_full_query_tree() -> None:
    query = parse(
        "SELECT * FROM item WHERE itemid IN ('A', 'B') AND isinactive = 'F' "
        "ORDER BY baseprice DESC, itemid ASC;"
    )
    assert query.columns is None
    assert query.where == And(
        (
            InList(Column("itemid"), (Literal("A"), Literal("B"))),
            Comparison("=", Column("isinactive"), Literal("F")),
        )
    )
    assert query.order_by == (OrderItem("baseprice", True), OrderItem("itemid", False))


def test_and_binds_tighter_than_or_and_parentheses_override() -> None:
    a, b, c = (Comparison("=", Column(n), Literal(1)) for n in ("a", "b", "c"))
    assert parse("SELECT id FROM item WHERE a = 1 OR b = 1 AND c = 1").where == Or((a, And((b, c))))
    assert parse("SELECT id FROM item WHERE (a = 1 OR b = 1) AND c = 1").where == And(
        (Or((a, b)), c)
    )


def test_not_like_in_and_null_forms() -> None:
    where = parse(
        "SELECT id FROM customer WHERE NOT companyname LIKE 'Ac%' "
        "AND email NOT LIKE '%@x.com' AND id NOT IN (1, 2) AND externalid IS NOT NULL "
        "AND custentity_tax_id IS NULL"
    ).where
    assert where == And(
        (
            Not(Like(Column("companyname"), Literal("Ac%"))),
            Like(Column("email"), Literal("%@x.com"), negated=True),
            InList(Column("id"), (Literal(1), Literal(2)), negated=True),
            IsNull(Column("externalid"), negated=True),
            IsNull(Column("custentity_tax_id")),
        )
    )


def test_numbers_are_exact() -> None:
    where = parse("SELECT id FROM item WHERE baseprice > 0.1").where
    assert where == Comparison(">", Column("baseprice"), Literal(Decimal("0.1")))


def test_to_timestamp_and_to_date() -> None:
    where = parse(
        "SELECT id FROM transaction WHERE lastmodifieddate >= "
        "TO_TIMESTAMP('2026-11-23 10:15:00', 'YYYY-MM-DD HH24:MI:SS') "
        "AND trandate < TO_DATE('2026-12-01', 'YYYY-MM-DD') "
        "AND lastmodifieddate < TO_TIMESTAMP('2026-11-24T00:00:00Z')"
    ).where
    assert where == And(
        (
            Comparison(
                ">=",
                Column("lastmodifieddate"),
                TimestampLiteral(datetime(2026, 11, 23, 10, 15, tzinfo=UTC)),
            ),
            Comparison("<", Column("trandate"), DateLiteral(date(2026, 12, 1))),
            Comparison(
                "<",
                Column("lastmodifieddate"),
                TimestampLiteral(datetime(2026, 11, 24, tzinfo=UTC)),
            ),
        )
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("SELECT id item", "expected FROM"),
        ("SELECT id FROM item WHERE itemid = 'open", "unterminated"),
        ("SELECT id FROM item WHERE", "expected a column"),
        ("SELECT id FROM item WHERE itemid", "expected a comparison"),
        ("SELECT id FROM item extra", "expected end of query"),
        ("SELECT id FROM item WHERE UPPER(itemid) = 'A'", "unsupported function UPPER"),
        ("SELECT id FROM item WHERE itemid IN ('A'", "expected )"),
        ("SELECT id FROM item WHERE a = TO_TIMESTAMP('x', 'YYYY')", "cannot read"),
        ("SELECT id FROM item WHERE itemid ~ 'a'", "unexpected character"),
    ],
)
def test_syntax_errors_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(SuiteQLError, match=re.escape(fragment)):
        parse(text)


def test_errors_carry_a_position() -> None:
    with pytest.raises(SuiteQLError) as info:
        parse("SELECT id FROM item WHERE itemid = 'A' garbage")
    assert info.value.position == len("SELECT id FROM item WHERE itemid = 'A' ")


def test_compiler_binds_every_literal_and_checks_columns() -> None:
    compiled = compile_query(
        parse(
            "SELECT id FROM item WHERE itemid IN ('A', 'B''; DROP TABLE item; --') "
            "AND baseprice > 100"
        )
    )
    assert "DROP" not in compiled.where_sql
    assert compiled.params == ("A", "B'; DROP TABLE item; --", "100")
    assert "deccmp(baseprice, ?) > 0" in compiled.where_sql
    with pytest.raises(SuiteQLError, match="Field 'nope' for record 'item' was not found"):
        compile_query(parse("SELECT nope FROM item"))
    with pytest.raises(SuiteQLError, match="Record 'account' was not found"):
        compile_query(parse("SELECT id FROM account"))


def test_compiler_normalises_timestamps() -> None:
    compiled = compile_query(
        parse("SELECT id FROM customer WHERE lastmodifieddate > '2026-11-23T12:00:00+02:00'")
    )
    assert compiled.params == ("2026-11-23T10:00:00Z",)
