"""A SOQL subset: tokenizer and recursive-descent parser producing a small AST.

Grammar (keywords case-insensitive)::

    query      := SELECT select FROM name [WHERE condition] [ORDER BY order (',' order)*]
                  [LIMIT int] [OFFSET int]
    select     := COUNT '(' [field] ')' | field (',' field)*
    field      := name ('.' name)*
    condition  := unary ((AND unary)* | (OR unary)*)      -- mixing needs parentheses
    unary      := NOT unary | '(' condition ')' | predicate
    predicate  := field op value | field [NOT] IN '(' value (',' value)* ')'
                | field [NOT] LIKE string
    op         := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
    value      := string | number | date | datetime | TRUE | FALSE | NULL
                | TODAY | YESTERDAY | TOMORROW | LAST_N_DAYS:n | NEXT_N_DAYS:n
    order      := field [ASC | DESC] [NULLS (FIRST | LAST)]

Like Salesforce, ``a AND b OR c`` is refused rather than given a precedence. The AST
knows nothing about objects or fields; ``query.py`` binds it to the schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal as TypingLiteral

from sandbox.salesforce.errors import SalesforceApiError, malformed_query
from sandbox.salesforce.values import parse_datetime

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),.:])
    """,
    re.VERBOSE,
)

_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "_": "\\_",
    "%": "\\%",
}

DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
DATE_N_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
_RESERVED = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "TRUE",
        "FALSE",
        "NULL",
        "GROUP",
        "HAVING",
        "WITH",
        "FOR",
        "USING",
        "INCLUDES",
        "EXCLUDES",
        "TYPEOF",
    }
)

TokenKind = TypingLiteral["datetime", "date", "number", "string", "name", "op", "punct", "eof"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    column: int

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "name" and self.text.upper() in words


def _unescape(body: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            nxt = body[index + 1]
            if nxt not in _ESCAPES:
                raise malformed_query(f"Invalid string literal: invalid escape sequence \\{nxt}")
            out.append(_ESCAPES[nxt])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise malformed_query(
                f"ERROR at Row:1:Column:{position + 1}\nunexpected token: '{text[position]}'"
            )
        kind = match.lastgroup
        if kind != "ws":
            tokens.append(Token(kind, match.group(), position + 1))  # type: ignore[arg-type]
        position = match.end()
    tokens.append(Token("eof", "<EOF>", len(text) + 1))
    return tokens


# --- AST -------------------------------------------------------------------------------

LiteralKind = TypingLiteral[
    "string", "number", "date", "datetime", "boolean", "null", "date_literal"
]


@dataclass(frozen=True)
class Value:
    kind: LiteralKind
    value: str | Decimal | date | datetime | bool | tuple[str, int] | None


@dataclass(frozen=True)
class FieldRef:
    path: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str  # one of = != < <= > >=
    value: Value


@dataclass(frozen=True)
class InList:
    field: FieldRef
    values: tuple[Value, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    field: FieldRef
    pattern: str
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    op: TypingLiteral["AND", "OR"]
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    operand: Condition


Condition = Comparison | InList | Like | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Count:
    field: FieldRef | None


@dataclass(frozen=True)
class Query:
    sobject: str
    fields: tuple[FieldRef, ...]
    count: Count | None
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


# --- parser ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def error(self, token: Token | None = None) -> SalesforceApiError:
        token = token or self.current
        return malformed_query(
            f"ERROR at Row:1:Column:{token.column}\nunexpected token: '{token.text}'"
        )

    def expect_keyword(self, word: str) -> None:
        if not self.current.is_keyword(word):
            raise self.error()
        self.advance()

    def expect_punct(self, char: str) -> None:
        if self.current.kind != "punct" or self.current.text != char:
            raise self.error()
        self.advance()

    def at_punct(self, char: str) -> bool:
        return self.current.kind == "punct" and self.current.text == char

    def name(self) -> str:
        token = self.current
        if token.kind != "name" or token.text.upper() in _RESERVED:
            raise self.error()
        self.advance()
        return token.text

    def integer(self) -> int:
        token = self.advance()
        if token.kind != "number" or not token.text.isdigit():
            raise self.error(token)
        return int(token.text)

    # query := SELECT select FROM name [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n]
    def query(self) -> Query:
        self.expect_keyword("SELECT")
        fields: list[FieldRef] = []
        count: Count | None = None
        if self.current.is_keyword("COUNT") and self.tokens[self.index + 1].text == "(":
            self.advance()
            self.expect_punct("(")
            count = Count(None if self.at_punct(")") else self.field())
            self.expect_punct(")")
        else:
            fields.append(self.field())
            while self.at_punct(","):
                self.advance()
                fields.append(self.field())
        self.expect_keyword("FROM")
        sobject = self.name()
        where = None
        if self.current.is_keyword("WHERE"):
            self.advance()
            where = self.condition()
        order: list[OrderItem] = []
        if self.current.is_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            order.append(self.order_item())
            while self.at_punct(","):
                self.advance()
                order.append(self.order_item())
        limit = offset = None
        if self.current.is_keyword("LIMIT"):
            self.advance()
            limit = self.integer()
        if self.current.is_keyword("OFFSET"):
            self.advance()
            offset = self.integer()
        if self.current.kind != "eof":
            raise self.error()
        return Query(sobject, tuple(fields), count, where, tuple(order), limit, offset)

    def field(self) -> FieldRef:
        if self.at_punct("("):
            raise malformed_query("Subqueries are not supported by the Syncline sandbox")
        parts = [self.name()]
        while self.at_punct("."):
            self.advance()
            parts.append(self.name())
        return FieldRef(tuple(parts))

    def order_item(self) -> OrderItem:
        ref = self.field()
        descending = False
        if self.current.is_keyword("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_last = descending
        if self.current.is_keyword("NULLS"):
            self.advance()
            if not self.current.is_keyword("FIRST", "LAST"):
                raise self.error()
            nulls_last = self.advance().text.upper() == "LAST"
        return OrderItem(ref, descending, nulls_last)

    # condition := unary ((AND unary)* | (OR unary)*)
    def condition(self) -> Condition:
        operands = [self.unary()]
        joiner: str | None = None
        while self.current.is_keyword("AND", "OR"):
            word = self.current.text.upper()
            if joiner is not None and word != joiner:
                raise self.error()
            joiner = word
            self.advance()
            operands.append(self.unary())
        if joiner is None:
            return operands[0]
        return BoolOp("AND" if joiner == "AND" else "OR", tuple(operands))

    def unary(self) -> Condition:
        if self.current.is_keyword("NOT"):
            self.advance()
            return Not(self.unary())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        ref = self.field()
        token = self.current
        if token.kind == "op":
            self.advance()
            op = "!=" if token.text == "<>" else token.text
            return Comparison(ref, op, self.value())
        negated = False
        if token.is_keyword("NOT"):
            self.advance()
            negated = True
        if self.current.is_keyword("IN"):
            self.advance()
            self.expect_punct("(")
            values = [self.value()]
            while self.at_punct(","):
                self.advance()
                values.append(self.value())
            self.expect_punct(")")
            return InList(ref, tuple(values), negated)
        if self.current.is_keyword("LIKE"):
            self.advance()
            pattern = self.value()
            if pattern.kind != "string" or not isinstance(pattern.value, str):
                raise malformed_query("LIKE needs a string literal")
            return Like(ref, pattern.value, negated)
        raise self.error()

    def value(self) -> Value:
        token = self.advance()
        if token.kind == "string":
            return Value("string", _unescape(token.text[1:-1]))
        if token.kind == "number":
            return Value("number", Decimal(token.text))
        if token.kind == "date":
            try:
                return Value("date", date.fromisoformat(token.text))
            except ValueError as exc:
                raise self.error(token) from exc
        if token.kind == "datetime":
            try:
                return Value("datetime", parse_datetime(token.text))
            except ValueError as exc:
                raise self.error(token) from exc
        if token.kind == "name":
            word = token.text.upper()
            if word in ("TRUE", "FALSE"):
                return Value("boolean", word == "TRUE")
            if word == "NULL":
                return Value("null", None)
            if word in DATE_LITERALS:
                return Value("date_literal", (word, 0))
            if word in DATE_N_LITERALS:
                self.expect_punct(":")
                return Value("date_literal", (word, self.integer()))
        raise self.error(token)


def parse(text: str) -> Query:
    """Parse one SOQL statement; raises ``MALFORMED_QUERY`` on anything outside the subset."""
    return _Parser(text).query()
