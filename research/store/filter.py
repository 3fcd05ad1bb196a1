"""A small filter language over the columns of a table: one boolean expression, never SQL.

Analyses select rows with text such as::

    measure = 'CMF' AND poolable AND intervention ILIKE '%speed%' AND year >= 2000

The text is parsed here into a tree and evaluated row by row in Python; it never reaches a
database. The language is the SQL ``WHERE`` subset the declarations need, with SQL's meaning
(a missing value makes a comparison unknown, and unknown rows are not selected):

- column names (bare, or in double quotes) of the table, and literals: 'text' ('' for a quote),
  numbers, TRUE, FALSE, NULL;
- comparisons ``= == != <> < <= > >=``; ``[NOT] LIKE`` / ``[NOT] ILIKE`` with ``%`` and ``_``;
  ``[NOT] IN (literal, ...)``; ``[NOT] BETWEEN a AND b``; ``IS [NOT] NULL``;
- ``NOT``, ``AND``, ``OR`` (in that order of binding) and parentheses; a bare column is a test
  that it is true.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

MAX_LENGTH = 4000  # a filter is a line or two; anything longer is not a declaration
MAX_NESTING = 50


class FilterError(ValueError):
    """The filter text cannot be parsed, names an unknown column, or compares mismatched types."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<quoted>"(?:[^"]|"")+")
      | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
      | (?P<op><=|>=|<>|!=|==|=|<|>|\(|\)|,|-)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X,
)
KEYWORDS = {"AND", "OR", "NOT", "LIKE", "ILIKE", "IN", "IS", "NULL", "TRUE", "FALSE", "BETWEEN"}


@dataclass(frozen=True)
class Token:
    kind: str  # string, column, number, op, keyword, end
    value: Any
    position: int


def tokenize(text: str) -> list[Token]:
    tokens, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(f"unexpected character {text[position]!r} at position {position + 1}")
        kind = match.lastgroup
        raw = match.group(kind)
        start = match.start(kind)
        if kind == "string":
            tokens.append(Token("string", raw[1:-1].replace("''", "'"), start))
        elif kind == "quoted":
            tokens.append(Token("column", raw[1:-1].replace('""', '"'), start))
        elif kind == "number":
            tokens.append(Token("number", float(raw) if any(c in raw for c in ".eE") else int(raw), start))
        elif kind == "word" and raw.upper() in KEYWORDS:
            tokens.append(Token("keyword", raw.upper(), start))
        elif kind == "word":
            tokens.append(Token("column", raw, start))
        else:
            tokens.append(Token("op", raw, start))
        position = match.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


# A node evaluates one row to True, False or None (unknown).
Node = Callable[[Mapping[str, Any]], Any]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas NA
    except (TypeError, ValueError):
        return True


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "text"


def _like(pattern: str, insensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(body, re.S | (re.I if insensitive else 0))


_COMPARE = {
    "=": lambda a, b: a == b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


class _Parser:
    def __init__(self, text: str, columns: Iterable[str]):
        self.text = text
        self.columns = list(columns)
        self.used: list[str] = []  # the columns the filter reads, in the order first named
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    # -- token helpers
    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def _take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _accept(self, kind: str, value: Any = None) -> Token | None:
        token = self.current
        if token.kind == kind and (value is None or token.value == value):
            return self._take()
        return None

    def _expect(self, kind: str, value: Any = None, what: str | None = None) -> Token:
        token = self._accept(kind, value)
        if token is None:
            raise self._error(f"expected {what or value or kind}")
        return token

    def _error(self, message: str) -> FilterError:
        token = self.current
        found = "the end" if token.kind == "end" else repr(self.text[token.position:token.position + 20])
        return FilterError(f"{message} at position {token.position + 1} (found {found})")

    # -- grammar
    def parse(self) -> Node:
        node = self._or()
        if self.current.kind != "end":
            raise self._error("expected AND, OR or the end")
        return node

    def _or(self) -> Node:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self._error(f"nested more than {MAX_NESTING} levels deep")
        parts = [self._and()]
        while self._accept("keyword", "OR"):
            parts.append(self._and())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else _any_of(parts)

    def _and(self) -> Node:
        parts = [self._not()]
        while self._accept("keyword", "AND"):
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else _all_of(parts)

    def _not(self) -> Node:
        if self._accept("keyword", "NOT"):
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self._error(f"nested more than {MAX_NESTING} levels deep")
            inner = self._not()
            self.depth -= 1
            return _negate(inner)
        return self._predicate()

    def _predicate(self) -> Node:
        if self._accept("op", "("):
            node = self._or()
            self._expect("op", ")", "')'")
            return node
        left = self._operand()
        token = self.current
        if token.kind == "op" and token.value in _COMPARE:
            self._take()
            right = self._operand()
            return _comparison(token.value, left, right)
        negated = bool(self._accept("keyword", "NOT"))
        if self._accept("keyword", "LIKE"):
            return self._like(left, negated, insensitive=False)
        if self._accept("keyword", "ILIKE"):
            return self._like(left, negated, insensitive=True)
        if self._accept("keyword", "IN"):
            return self._in(left, negated)
        if self._accept("keyword", "BETWEEN"):
            low = self._operand()
            self._expect("keyword", "AND")
            high = self._operand()
            node = _all_of([_comparison(">=", left, low), _comparison("<=", left, high)])
            return _negate(node) if negated else node
        if negated:
            raise self._error("expected LIKE, ILIKE, IN or BETWEEN after NOT")
        if self._accept("keyword", "IS"):
            is_not = bool(self._accept("keyword", "NOT"))
            self._expect("keyword", "NULL")
            return (lambda row: not _is_missing(left(row))) if is_not else (lambda row: _is_missing(left(row)))
        return _truth(left)

    def _like(self, left: Node, negated: bool, insensitive: bool) -> Node:
        pattern = self._expect("string", what="a quoted pattern").value
        regex = _like(pattern, insensitive)

        def match(row: Mapping[str, Any]) -> Any:
            value = left(row)
            if _is_missing(value):
                return None
            if not isinstance(value, str):
                raise FilterError(f"LIKE {pattern!r} needs a text column, not a {_kind(value)}")
            return regex.fullmatch(value) is not None

        return _negate(match) if negated else match

    def _in(self, left: Node, negated: bool) -> Node:
        self._expect("op", "(", "'('")
        options = [self._literal()]
        while self._accept("op", ","):
            options.append(self._literal())
        self._expect("op", ")", "')'")
        node = _any_of([_comparison("=", left, (lambda v: lambda row: v)(option)) for option in options])
        return _negate(node) if negated else node

    def _literal(self) -> Any:
        token = self.current
        if token.kind in ("string", "number"):
            return self._take().value
        if self._accept("op", "-"):
            return -self._expect("number", what="a number").value
        if token.kind == "keyword" and token.value in ("TRUE", "FALSE", "NULL"):
            self._take()
            return {"TRUE": True, "FALSE": False, "NULL": None}[token.value]
        raise self._error("expected a value ('text', a number, TRUE, FALSE or NULL)")

    def _operand(self) -> Node:
        token = self.current
        if token.kind == "column":
            self._take()
            if token.value not in self.columns:
                raise FilterError(f"unknown column {token.value!r} (columns: {', '.join(self.columns)})")
            name = token.value
            if name not in self.used:
                self.used.append(name)
            return lambda row: plain_value(row.get(name))
        value = self._literal()
        return lambda row: value


def _truth(node: Node) -> Node:
    def test(row: Mapping[str, Any]) -> Any:
        value = node(row)
        if _is_missing(value):
            return None
        if not isinstance(value, bool):
            raise FilterError(f"a {_kind(value)} value is used as a condition; compare it with something")
        return value

    return test


def _negate(node: Node) -> Node:
    def negation(row: Mapping[str, Any]) -> Any:
        value = node(row)
        return None if value is None else not value

    return negation


def _all_of(parts: list[Node]) -> Node:
    def conjunction(row: Mapping[str, Any]) -> Any:
        unknown = False
        for part in parts:
            value = part(row)
            if value is False:
                return False
            unknown = unknown or value is None
        return None if unknown else True

    return conjunction


def _any_of(parts: list[Node]) -> Node:
    def disjunction(row: Mapping[str, Any]) -> Any:
        unknown = False
        for part in parts:
            value = part(row)
            if value is True:
                return True
            unknown = unknown or value is None
        return None if unknown else False

    return disjunction


def _comparison(op: str, left: Node, right: Node) -> Node:
    compare = _COMPARE[op]

    def test(row: Mapping[str, Any]) -> Any:
        a, b = left(row), right(row)
        if _is_missing(a) or _is_missing(b):
            return None
        kind_a, kind_b = _kind(a), _kind(b)
        if kind_a != kind_b:
            raise FilterError(f"cannot compare a {kind_a} ({a!r}) with a {kind_b} ({b!r}) using {op}")
        return bool(compare(a, b))

    return test


@dataclass(frozen=True)
class Filter:
    """A parsed filter: call ``matches(row)`` for one row, or ``mask(rows)`` for many. ``columns``
    are the columns it reads (rows need hold only those)."""

    text: str
    node: Node
    columns: tuple[str, ...] = ()

    def matches(self, row: Mapping[str, Any]) -> bool:
        return self.node(row) is True

    def mask(self, rows: Iterable[Mapping[str, Any]]) -> list[bool]:
        return [self.node(row) is True for row in rows]


def parse_filter(text: str, columns: Iterable[str]) -> Filter:
    """Parse ``text`` over the given column names; FilterError says what is wrong and where."""
    if not isinstance(text, str) or not text.strip():
        raise FilterError("the filter is empty")
    if len(text) > MAX_LENGTH:
        raise FilterError(f"the filter is longer than {MAX_LENGTH} characters")
    parser = _Parser(text, columns)
    node = parser.parse()
    return Filter(text, node, tuple(parser.used))


def plain_value(value: Any) -> Any:
    """A table cell as a Python value: numpy scalars unwrapped, NaN as None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()  # numpy scalars to Python
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
