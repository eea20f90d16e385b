"""Running a parsed SOQL query against the store: binding, filtering, sorting, projection.

Binding turns field paths into schema fields and literals into typed operands up front,
so type errors are reported before any record is read, and evaluation is a closure per
condition. Equality on an id, a reference or an external id narrows the scan through
the store's indexes; the full condition is still applied to what the index returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sandbox.salesforce import soql
from sandbox.salesforce.errors import bad_request, malformed_query
from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.schema import (
    ID_TYPES,
    NUMBER_TYPES,
    OBJECTS,
    TEXT_TYPES,
    FieldDef,
    ObjectDef,
    find_object,
    record_attributes,
)
from sandbox.salesforce.store import Records
from sandbox.salesforce.values import now_utc, parse_datetime

Doc = dict[str, Any]


class Parents:
    """Parent records looked up while evaluating relationship paths, cached per query."""

    def __init__(self, tx: Records) -> None:
        self.tx = tx
        self._cache: dict[tuple[str, str], Doc | None] = {}

    def get(self, obj: ObjectDef, record_id: str) -> Doc | None:
        key = (obj.name, record_id)
        if key not in self._cache:
            self._cache[key] = self.tx.get(obj, record_id)
        return self._cache[key]

    def prefetch(self, obj: ObjectDef, record_ids: set[str]) -> None:
        missing = {i for i in record_ids if (obj.name, i) not in self._cache}
        found = self.tx.get_many(obj, missing)
        for record_id in missing:
            self._cache[(obj.name, record_id)] = found.get(record_id)


@dataclass(frozen=True)
class Path:
    """A bound field path: the reference fields to follow, then the field to read."""

    hops: tuple[FieldDef, ...]
    field: FieldDef

    def objects(self) -> list[ObjectDef]:
        return [OBJECTS[h.reference_to or ""] for h in self.hops]

    def raw(self, doc: Doc, parents: Parents) -> Any:
        current: Doc | None = doc
        for hop, target in zip(self.hops, self.objects(), strict=True):
            parent_id = current.get(hop.name) if current else None
            current = parents.get(target, parent_id) if parent_id else None
            if current is None:
                return None
        return current.get(self.field.name) if current else None

    def typed(self, doc: Doc, parents: Parents) -> Any:
        return typed_value(self.field, self.raw(doc, parents))


def typed_value(f: FieldDef, raw: Any) -> Any:
    """A stored value as a Python value that compares the way SOQL compares it."""
    if raw is None:
        return None
    if f.type == "date":
        return date.fromisoformat(raw)
    if f.type == "datetime":
        return parse_datetime(raw)
    if f.type in TEXT_TYPES:
        return str(raw).casefold()  # SOQL text comparisons ignore case
    return raw


def bind_path(obj: ObjectDef, ref: soql.FieldRef) -> Path:
    current = obj
    hops: list[FieldDef] = []
    for part in ref.path[:-1]:
        hop = current.relationship(part)
        if hop is None or hop.reference_to not in OBJECTS:
            raise bad_request(
                "INVALID_FIELD",
                f"Didn't understand relationship '{part}' in field path. If you are attempting "
                "to use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name.",
            )
        hops.append(hop)
        current = OBJECTS[hop.reference_to or ""]
    f = current.field(ref.path[-1])
    if f is None:
        raise bad_request(
            "INVALID_FIELD",
            f"No such column '{ref.path[-1]}' on entity '{current.name}'. If you are attempting "
            "to use a custom field, be sure to append the '__c' after the custom field name.",
        )
    return Path(tuple(hops), f)


@dataclass(frozen=True)
class DateRange:
    start: date | datetime
    end: date | datetime


def _date_range(f: FieldDef, name: str, n: int) -> DateRange:
    today = now_utc().date()
    days = {
        "TODAY": (0, 1),
        "YESTERDAY": (-1, 0),
        "TOMORROW": (1, 2),
        "LAST_N_DAYS": (-n, 1),
        "NEXT_N_DAYS": (1, n + 1),
    }[name]
    start, end = (today + timedelta(days=d) for d in days)
    if f.type == "datetime":
        return DateRange(datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC))
    return DateRange(start, end)


def bind_literal(f: FieldDef, value: soql.Value) -> Any:
    """A literal as an operand comparable with ``typed_value(f, ...)``; refuses a wrong type."""
    if value.kind == "null":
        return None
    if f.type in TEXT_TYPES and value.kind == "string":
        return str(value.value).casefold()
    if f.type in ID_TYPES and value.kind == "string":
        canonical = normalize_id(str(value.value))
        if canonical is None:
            raise bad_request("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value.value}")
        return canonical
    if f.type in NUMBER_TYPES and value.kind == "number":
        return value.value
    if f.type == "boolean" and value.kind == "boolean":
        return value.value
    if f.type in ("date", "datetime") and value.kind == "date_literal":
        assert isinstance(value.value, tuple)
        return _date_range(f, *value.value)
    if f.type == value.kind and f.type in ("date", "datetime"):
        return value.value
    expected = {"currency": "double", "datetime": "dateTime"}.get(f.type, f.type)
    raise bad_request(
        "INVALID_FIELD",
        f"value of filter criterion for field '{f.name}' must be of type {expected} and should "
        "not be enclosed in quotes"
        if value.kind == "string"
        else f"value of filter criterion for field '{f.name}' must be of type {expected}",
    )


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(right, DateRange):
        if left is None:
            return op == "!="
        inside = bool(right.start <= left < right.end)
        return {
            "=": inside,
            "!=": not inside,
            "<": bool(left < right.start),
            "<=": bool(left < right.end),
            ">": bool(left >= right.end),
            ">=": bool(left >= right.start),
        }[op]
    if right is None or left is None:
        equal = left is right
        return equal if op == "=" else (not equal if op == "!=" else False)
    results: dict[str, Callable[[], bool]] = {
        "=": lambda: bool(left == right),
        "!=": lambda: bool(left != right),
        "<": lambda: bool(left < right),
        "<=": lambda: bool(left <= right),
        ">": lambda: bool(left > right),
        ">=": lambda: bool(left >= right),
    }
    return results[op]()


def _like_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "%_":
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


Predicate = Callable[[Doc, Parents], bool]


def bind_condition(obj: ObjectDef, cond: soql.Condition, paths: list[Path]) -> Predicate:
    """A predicate for ``cond``; every path it reads is appended to ``paths``."""
    if isinstance(cond, soql.BoolOp):
        parts = [bind_condition(obj, c, paths) for c in cond.operands]
        if cond.op == "AND":
            return lambda doc, parents: all(p(doc, parents) for p in parts)
        return lambda doc, parents: any(p(doc, parents) for p in parts)
    if isinstance(cond, soql.Not):
        inner = bind_condition(obj, cond.operand, paths)
        return lambda doc, parents: not inner(doc, parents)
    path = bind_path(obj, cond.field)
    paths.append(path)
    if isinstance(cond, soql.Comparison):
        operand = bind_literal(path.field, cond.value)
        op = cond.op
        return lambda doc, parents: _compare(op, path.typed(doc, parents), operand)
    if isinstance(cond, soql.InList):
        operands = [bind_literal(path.field, v) for v in cond.values]
        negated = cond.negated

        def in_list(doc: Doc, parents: Parents) -> bool:
            value = path.typed(doc, parents)
            return (any(_compare("=", value, o) for o in operands)) != negated

        return in_list
    if path.field.type not in TEXT_TYPES | ID_TYPES:
        raise bad_request(
            "INVALID_FIELD", f"invalid operator on field '{path.field.name}': LIKE needs text"
        )
    regex = _like_regex(cond.pattern)
    negated = cond.negated

    def like(doc: Doc, parents: Parents) -> bool:
        raw = path.raw(doc, parents)
        return raw is not None and (regex.fullmatch(str(raw)) is not None) != negated

    return like


class BoundQuery:
    """A query checked against the schema, ready to run in a read transaction."""

    def __init__(self, query: soql.Query) -> None:
        obj = find_object(query.sobject)
        if obj is None:
            raise bad_request("INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
        self.obj = obj
        self.query = query
        self.select = [bind_path(obj, ref) for ref in query.fields]
        seen: set[str] = set()
        for ref in query.fields:
            key = ref.dotted.lower()
            if key in seen:
                raise malformed_query(f"duplicate field selected: {ref.dotted}")
            seen.add(key)
        self.count_path = (
            bind_path(obj, query.count.field) if query.count and query.count.field else None
        )
        self.where_paths: list[Path] = []
        self.where = bind_condition(obj, query.where, self.where_paths) if query.where else None
        self.order = [(bind_path(obj, item.field), item) for item in query.order_by]

    @property
    def is_count(self) -> bool:
        return self.query.count is not None

    def run(self, tx: Records) -> list[Doc]:
        """The matching records, ordered, with OFFSET and LIMIT applied."""
        parents = Parents(tx)
        docs = self._candidates(tx)
        self._prefetch(parents, docs, [*self.where_paths, *(p for p, _ in self.order)])
        if self.where is not None:
            where = self.where
            docs = [d for d in docs if where(d, parents)]
        for path, item in reversed(self.order):
            keyed = [(path.typed(d, parents), d) for d in docs]
            present = [pair for pair in keyed if pair[0] is not None]
            present.sort(key=lambda pair: pair[0], reverse=item.descending)
            missing = [d for value, d in keyed if value is None]
            ordered = [d for _, d in present]
            docs = ordered + missing if item.nulls_last else missing + ordered
        start = self.query.offset or 0
        end = None if self.query.limit is None else start + self.query.limit
        return docs[start:end]

    def _candidates(self, tx: Records) -> list[Doc]:
        where = self.query.where
        conjuncts = (
            list(where.operands)
            if isinstance(where, soql.BoolOp) and where.op == "AND"
            else [where]
            if where is not None
            else []
        )
        for cond in conjuncts:
            if isinstance(cond, soql.Comparison) and cond.op == "=":
                values = [cond.value]
            elif isinstance(cond, soql.InList) and not cond.negated:
                values = list(cond.values)
            else:
                continue
            if len(cond.field.path) != 1 or any(v.kind != "string" for v in values):
                continue
            f = self.obj.field(cond.field.path[0])
            if f is None:
                continue
            if f.type == "id":
                ids = [normalize_id(str(v.value)) for v in values]
                found = tx.get_many(self.obj, [i for i in ids if i])
                return [found[i] for i in dict.fromkeys(ids) if i in found]
            if f in self.obj.indexed_fields:
                keys = [
                    (normalize_id(str(v.value)) or "") if f.type == "reference" else str(v.value)
                    for v in values
                ]
                by_id = {d["Id"]: d for key in keys for d in tx.find(self.obj, f.name, key)}
                return list(by_id.values())
        return list(tx.scan(self.obj))

    def _prefetch(self, parents: Parents, docs: list[Doc], paths: list[Path]) -> None:
        """Load first-hop parents in bulk rather than one SELECT per record."""
        for hop in {p.hops[0] for p in paths if p.hops}:
            target = OBJECTS[hop.reference_to or ""]
            parents.prefetch(target, {d[hop.name] for d in docs if d.get(hop.name)})

    def count(self, docs: list[Doc], tx: Records) -> dict[str, Any]:
        """The response of ``SELECT COUNT() ...`` or ``SELECT COUNT(field) ...``."""
        if self.count_path is None:
            return {"totalSize": len(docs), "done": True, "records": []}
        parents = Parents(tx)
        path = self.count_path
        counted = sum(1 for d in docs if path.raw(d, parents) is not None)
        return {
            "totalSize": 1,
            "done": True,
            "records": [{"attributes": {"type": "AggregateResult"}, "expr0": counted}],
        }

    def project(self, tx: Records, docs: list[Doc]) -> list[Doc]:
        parents = Parents(tx)
        self._prefetch(parents, docs, self.select)
        return [self._project_one(doc, parents) for doc in docs]

    def _project_one(self, doc: Doc, parents: Parents) -> Doc:
        out: Doc = {"attributes": record_attributes(self.obj.name, doc["Id"])}
        for path in self.select:
            container: Doc | None = out
            current: Doc | None = doc
            for hop, target in zip(path.hops, path.objects(), strict=True):
                assert container is not None and current is not None
                key = hop.relationship_name or hop.name
                parent_id = current.get(hop.name)
                current = parents.get(target, parent_id) if parent_id else None
                if current is None:
                    container.setdefault(key, None)
                    container = None
                    break
                nested = container.get(key)
                if not isinstance(nested, dict):
                    nested = {"attributes": record_attributes(target.name, current["Id"])}
                    container[key] = nested
                container = nested
            if container is not None and current is not None:
                container[path.field.name] = current.get(path.field.name)
        return out


def compile_query(text: str) -> BoundQuery:
    return BoundQuery(soql.parse(text))
