"""A small SuiteQL parser: tokenizer plus recursive descent, producing an AST.

The supported subset, enough for catalog look-ups, incremental sync and
reconciliation queries::

    query      := SELECT select_list FROM ident [WHERE expr]
                  [ORDER BY order_item ("," order_item)*] [";"]
    select_list:= "*" | ident ("," ident)*
    order_item := ident [ASC | DESC]
    expr       := and_expr (OR and_expr)*
    and_expr   := not_expr (AND not_expr)*
    not_expr   := NOT not_expr | predicate
    predicate  := "(" expr ")"
                | operand ( cmp_op operand
                          | [NOT] IN "(" operand ("," operand)* ")"
                          | [NOT] LIKE operand
                          | IS [NOT] NULL )
    operand    := ident | string | number | NULL
                | TO_TIMESTAMP "(" string ["," string] ")" | TO_DATE "(" string ["," string] ")"
    cmp_op     := "=" | "<>" | "!=" | "<" | ">" | "<=" | ">="

Identifiers are case-insensitive (normalised to lower case, as SuiteQL returns
them); strings use single quotes with ``''`` as the escaped quote. What a column
means (its type, which table it lives in) is the compiler's business
(``sandbox.netsuite.query``), not the parser's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum


class SuiteQLError(ValueError):
    """A query the sandbox cannot parse or run; ``position`` is a character offset."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} at position {position}")
        self.position = position


# --- tokens -----------------------------------------------------------------------------


class Tok(Enum):
    IDENT = "identifier"
    KEYWORD = "keyword"
    STRING = "string"
    NUMBER = "number"
    OP = "operator"
    COMMA = ","
    LPAREN = "("
    RPAREN = ")"
    STAR = "*"
    SEMICOLON = ";"
    EOF = "end of query"


KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "IS",
        "NULL",
    }
)


@dataclass(frozen=True)
class Token:
    kind: Tok
    text: str
    position: int


_PUNCTUATION = {",": Tok.COMMA, "(": Tok.LPAREN, ")": Tok.RPAREN, "*": Tok.STAR, ";": Tok.SEMICOLON}
_NUMBER = re.compile(r"\d+(\.\d+)?|\.\d+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$#]*")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            start, i, chars = i, i + 1, []
            while True:
                if i >= n:
                    raise SuiteQLError("unterminated string literal", start)
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":  # '' is an escaped quote
                        chars.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(text[i])
                i += 1
            tokens.append(Token(Tok.STRING, "".join(chars), start))
        elif ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            match = _NUMBER.match(text, i)
            assert match is not None
            tokens.append(Token(Tok.NUMBER, match.group(), i))
            i = match.end()
        elif ch.isalpha() or ch == "_":
            match = _IDENT.match(text, i)
            assert match is not None
            word = match.group()
            kind = Tok.KEYWORD if word.upper() in KEYWORDS else Tok.IDENT
            tokens.append(Token(kind, word.upper() if kind is Tok.KEYWORD else word.lower(), i))
            i = match.end()
        elif ch in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[ch], ch, i))
            i += 1
        elif text.startswith(("<>", "!=", "<=", ">="), i):
            tokens.append(Token(Tok.OP, "<>" if text[i : i + 2] == "!=" else text[i : i + 2], i))
            i += 2
        elif ch in "=<>":
            tokens.append(Token(Tok.OP, ch, i))
            i += 1
        else:
            raise SuiteQLError(f"unexpected character {ch!r}", i)
    tokens.append(Token(Tok.EOF, "", n))
    return tokens


# --- syntax tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Literal:
    """A string or number; numbers are exact (``int`` or ``Decimal``)."""

    value: str | int | Decimal


@dataclass(frozen=True)
class NullLiteral:
    pass


@dataclass(frozen=True)
class TimestampLiteral:
    value: datetime  # always UTC


@dataclass(frozen=True)
class DateLiteral:
    value: date


Operand = Column | Literal | NullLiteral | TimestampLiteral | DateLiteral


@dataclass(frozen=True)
class Comparison:
    op: str  # one of = <> < > <= >=
    left: Operand
    right: Operand


@dataclass(frozen=True)
class InList:
    operand: Operand
    values: tuple[Operand, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    operand: Operand
    pattern: Operand
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    operand: Operand
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Comparison | InList | Like | IsNull | And | Or | Not


@dataclass(frozen=True)
class OrderItem:
    column: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    columns: tuple[str, ...] | None  # None means SELECT *
    table: str
    where: Expr | None = None
    order_by: tuple[OrderItem, ...] = ()


# --- date formats -----------------------------------------------------------------------

_FORMAT_TOKEN = re.compile(r'YYYY|MM|DD|HH24|HH|MI|SS|"[^"]*"|.', re.IGNORECASE)
_STRPTIME = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH24": "%H", "HH": "%H", "MI": "%M", "SS": "%S"}


def _oracle_to_strptime(fmt: str) -> str:
    out = []
    for match in _FORMAT_TOKEN.finditer(fmt):
        token = match.group()
        if token.upper() in _STRPTIME:
            out.append(_STRPTIME[token.upper()])
        elif token.startswith('"'):
            out.append(token[1:-1].replace("%", "%%"))
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


def parse_timestamp(text: str, fmt: str | None = None) -> datetime:
    """A UTC instant from an Oracle-style format, or from ISO 8601 when none is given.

    Naive values are taken as UTC (the sandbox stores every timestamp in UTC).
    """
    try:
        if fmt is not None:
            value = datetime.strptime(text, _oracle_to_strptime(fmt))
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SuiteQLError(f"cannot read {text!r} as a timestamp: {exc}") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_date(text: str, fmt: str | None = None) -> date:
    if fmt is None:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return parse_timestamp(text).date()
    return parse_timestamp(text, fmt).date()


# --- parser -----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    # token helpers
    def peek(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not Tok.EOF:
            self.pos += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind is Tok.KEYWORD and token.text in words

    def accept_keyword(self, word: str) -> bool:
        if self.at_keyword(word):
            self.advance()
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.accept_keyword(word):
            self.fail(f"expected {word}")

    def expect(self, kind: Tok) -> Token:
        token = self.peek()
        if token.kind is not kind:
            self.fail(f"expected {kind.value}")
        return self.advance()

    def fail(self, message: str) -> None:
        token = self.peek()
        found = token.kind.value if token.kind is Tok.EOF else repr(token.text)
        raise SuiteQLError(f"{message}, found {found}", token.position)

    # grammar
    def query(self) -> Query:
        self.expect_keyword("SELECT")
        columns = self.select_list()
        self.expect_keyword("FROM")
        table = self.expect(Tok.IDENT).text
        where = None
        if self.accept_keyword("WHERE"):
            where = self.expr()
        order_by: list[OrderItem] = []
        if self.accept_keyword("ORDER"):
            self.expect_keyword("BY")
            order_by.append(self.order_item())
            while self.peek().kind is Tok.COMMA:
                self.advance()
                order_by.append(self.order_item())
        if self.peek().kind is Tok.SEMICOLON:
            self.advance()
        if self.peek().kind is not Tok.EOF:
            self.fail("expected end of query")
        return Query(columns=columns, table=table, where=where, order_by=tuple(order_by))

    def select_list(self) -> tuple[str, ...] | None:
        if self.peek().kind is Tok.STAR:
            self.advance()
            return None
        columns = [self.expect(Tok.IDENT).text]
        while self.peek().kind is Tok.COMMA:
            self.advance()
            columns.append(self.expect(Tok.IDENT).text)
        return tuple(columns)

    def order_item(self) -> OrderItem:
        column = self.expect(Tok.IDENT).text
        if self.accept_keyword("DESC"):
            return OrderItem(column, descending=True)
        self.accept_keyword("ASC")
        return OrderItem(column)

    def expr(self) -> Expr:
        items = [self.and_expr()]
        while self.accept_keyword("OR"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.accept_keyword("AND"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Expr:
        if self.accept_keyword("NOT"):
            return Not(self.not_expr())
        return self.predicate()

    def predicate(self) -> Expr:
        if self.peek().kind is Tok.LPAREN:
            self.advance()
            inner = self.expr()
            self.expect(Tok.RPAREN)
            return inner
        left = self.operand()
        token = self.peek()
        if token.kind is Tok.OP:
            self.advance()
            return Comparison(token.text, left, self.operand())
        if self.accept_keyword("IS"):
            negated = self.accept_keyword("NOT")
            self.expect_keyword("NULL")
            return IsNull(left, negated)
        negated = self.accept_keyword("NOT")
        if self.accept_keyword("IN"):
            self.expect(Tok.LPAREN)
            values = [self.operand()]
            while self.peek().kind is Tok.COMMA:
                self.advance()
                values.append(self.operand())
            self.expect(Tok.RPAREN)
            return InList(left, tuple(values), negated)
        if self.accept_keyword("LIKE"):
            return Like(left, self.operand(), negated)
        self.fail("expected a comparison, IN, LIKE or IS [NOT] NULL")
        raise AssertionError("unreachable")

    def operand(self) -> Operand:
        token = self.peek()
        if token.kind is Tok.STRING:
            self.advance()
            return Literal(token.text)
        if token.kind is Tok.NUMBER:
            self.advance()
            return Literal(Decimal(token.text) if "." in token.text else int(token.text))
        if token.kind is Tok.KEYWORD and token.text == "NULL":
            self.advance()
            return NullLiteral()
        if token.kind is Tok.IDENT:
            self.advance()
            if self.peek().kind is Tok.LPAREN:
                return self.function(token)
            return Column(token.text)
        self.fail("expected a column, a literal or a function")
        raise AssertionError("unreachable")

    def function(self, name: Token) -> Operand:
        if name.text not in ("to_timestamp", "to_date"):
            raise SuiteQLError(f"unsupported function {name.text.upper()}", name.position)
        self.expect(Tok.LPAREN)
        value = self.expect(Tok.STRING)
        fmt: str | None = None
        if self.peek().kind is Tok.COMMA:
            self.advance()
            fmt = self.expect(Tok.STRING).text
        self.expect(Tok.RPAREN)
        try:
            if name.text == "to_timestamp":
                return TimestampLiteral(parse_timestamp(value.text, fmt))
            return DateLiteral(parse_date(value.text, fmt))
        except SuiteQLError as exc:
            raise SuiteQLError(str(exc), value.position) from None


def parse(text: str) -> Query:
    """Parse one SuiteQL statement; raises ``SuiteQLError`` with a position."""
    if not text or not text.strip():
        raise SuiteQLError("the query is empty")
    return _Parser(text).query()
