"""Reading evidence text safely: UTF-8 named by line, strict YAML, CSV rows with their line.

Owns the rules every evidence, analysis or record file is read with: bytes that are not UTF-8
are reported by line and column; YAML is parsed with the safe loader (libyaml when present),
duplicate keys are refused, nesting is bounded and aliases may not expand a few lines into
billions of values; CSV and Parquet headers may not repeat a column. Records keep the line they start on
(and, in YAML, the line of each field; in Parquet, their row). Nothing here writes a file.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode

MAX_DEPTH = 32  # records are at most four levels deep; anything far deeper is not evidence

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ReadError(ValueError):
    """A file (or text) cannot be read as evidence; ``line`` says where, when known."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)
        self.reason = message


class StrictLoader(_Base):  # type: ignore[misc, valid-type]
    """The safe YAML loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key is reported by the base constructor
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise ConstructorError(None, None, f"key {key!r} given twice (first on line {first})",
                                           key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """Line and column (both from 1) of a byte offset."""
    return data.count(b"\n", 0, offset) + 1, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def decode(data: bytes) -> str:
    """UTF-8 text (a leading byte-order mark dropped); bad bytes are named by line and column.

    A NUL byte is refused too: it marks a binary or UTF-16 file, never evidence text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        raise ReadError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column})", line) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _position(data, nul)
        raise ReadError(f"contains a NUL byte (column {column}); is it a binary or UTF-16 file?", line)
    return text


def read_text(path: Path) -> str:
    """The file's text; a folder, a missing or unreadable file or bad bytes raise ReadError."""
    if path.is_dir():
        raise ReadError("is a folder, not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(exc.strerror or str(exc)) from None
    return decode(data)


def _yaml_error(exc: yaml.YAMLError) -> ReadError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"not valid YAML: {context + ', ' if context else ''}{problem}".replace("\n", " ")
    return ReadError(message, line)


def _children(value: list | dict) -> list:
    return list(value.values()) if isinstance(value, dict) else value


def check_shape(data: Any) -> None:
    """Refuse data nested more than MAX_DEPTH deep, a list or mapping inside itself, and YAML
    aliases that expand a few lines into far more values than the text holds (billion laughs).

    Shared values are measured once, so this takes time linear in the text."""
    if not isinstance(data, (list, dict)):
        return
    sizes: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
    on_path: set[int] = set()
    written = 0  # values as written, each shared one counted once
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        value, finished = stack.pop()
        key = id(value)
        if finished:
            on_path.discard(key)
            size, height = 1, 1
            for child in _children(value):
                child_size, child_height = sizes.get(id(child), (1, 0))
                size += child_size
                height = max(height, child_height + 1)
            sizes[key] = (size, height)
            if height > MAX_DEPTH:
                raise ReadError(f"nested more than {MAX_DEPTH} levels deep")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ReadError("a list or mapping contains itself through a YAML alias")
        on_path.add(key)
        children = _children(value)
        written += 1 + len(children)
        stack.append((value, True))
        stack.extend((child, False) for child in children if isinstance(child, (list, dict)))
    expanded = sizes.get(id(data), (1, 0))[0]
    if expanded > 10 * written + 10_000:
        raise ReadError(f"YAML aliases expand {written} written values into {expanded}; write the values out")


def load_yaml_document(text: str) -> tuple[Any, list[tuple[int, dict[str, int]]]]:
    """Parse one YAML document. For a top-level list, also where each item starts: its line and
    the line of each of its keys (so a problem with a field can name the field's line)."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        places = [(item.start_mark.line + 1, _key_lines(item)) for item in node.value] if node.id == "sequence" else []
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc) from None
    except ValueError as exc:  # a scalar the constructor cannot build, e.g. an integer of 5,000 digits
        raise ReadError(f"a value cannot be read: {exc}") from None
    except RecursionError:
        raise ReadError(f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()
    check_shape(data)
    return data, places


def _key_lines(node) -> dict[str, int]:
    if not isinstance(node, MappingNode):
        return {}
    return {key.value: key.start_mark.line + 1 for key, _ in node.value if isinstance(key, ScalarNode)}


def load_yaml(text: str) -> Any:
    """Parse one YAML document with the strict rules above."""
    return load_yaml_document(text)[0]


# --------------------------------------------------------------------------- CSV cells

_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = SafeConstructor()
_SCALAR_TYPES = {
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
}


_PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")  # YAML reads a leading 0 as octal: left to the resolver
_PLAIN_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
_IMPLICIT_FIRST = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k is not None)


@functools.lru_cache(maxsize=65536)
def coerce_cell(value: str) -> Any:
    """A CSV cell as YAML would read the bare scalar: numbers and booleans typed, the rest text.

    Common cells take a fast path (plain integers and decimals, or text whose first character no
    YAML type can start with); the rest use the YAML resolver's patterns, never a parser per cell."""
    text = value.strip()
    if not text:
        return None
    if _PLAIN_INT.fullmatch(text):
        return int(text) if len(text) < 4000 else value
    if _PLAIN_FLOAT.fullmatch(text):
        return float(text)
    if text[0] not in _IMPLICIT_FIRST:
        return value
    tag = _RESOLVER.resolve(ScalarNode, text, (True, False))
    build = _SCALAR_TYPES.get(tag)
    if build is None:
        return value
    try:
        return build(ScalarNode(tag, text))
    except (ValueError, OverflowError):
        return value


def read_csv_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and rows (each with the line it starts on); a repeated or empty column name is an error."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return [], []
        header = [name.strip() for name in header]
        seen: dict[str, int] = {}
        for position, name in enumerate(header, start=1):
            if not name:
                raise ReadError(f"column {position} of the header has no name", 1)
            if name in seen:
                raise ReadError(f"column '{name}' appears twice in the header (columns {seen[name]} and {position})", 1)
            seen[name] = position
        rows = []
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ReadError(f"not valid CSV: {exc}", reader.line_num or None) from None
    return header, rows


# --------------------------------------------------------------------------- Parquet tables


def read_parquet_rows(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """Header and rows of a Parquet table, each row numbered from 1 (in place of a line).

    Values keep their Parquet types (numbers, text, lists, structs as mappings); a null is "not
    given", like an empty CSV cell, and so are a NaN in a floating-point column and blank text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_dir():
        raise ReadError("is a folder, not a file")
    try:
        # ParquetFile reads the one file without the dataset layer (which would also load pandas)
        with pq.ParquetFile(path) as handle:
            table = handle.read()
    except OSError as exc:
        raise ReadError(exc.strerror or str(exc)) from None
    except (pa.ArrowException, ValueError) as exc:
        raise ReadError(f"not a readable Parquet file: {exc}".replace("\n", " ")) from None
    header = [str(name).strip() for name in table.column_names]
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name:
            raise ReadError(f"column {position} has no name")
        if name in seen:
            raise ReadError(f"column '{name}' appears twice (columns {seen[name]} and {position})")
        seen[name] = position
    columns = []
    for column in table.columns:
        values = column.to_pylist()
        if pa.types.is_floating(column.type):
            values = [None if isinstance(v, float) and v != v else v for v in values]
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            values = [None if isinstance(v, str) and not v.strip() else v for v in values]
        columns.append(values)
    rows = [(number, list(cells)) for number, cells in enumerate(zip(*columns), start=1)] if columns else []
    return header, rows
