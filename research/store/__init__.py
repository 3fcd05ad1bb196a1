"""The evidence store: record schema, safe reading, loading and validation, index, filters, atomic writes.

The names below load on first use, so that a submodule (e.g. ``research.store.files``) can be
imported without the record schema.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["EvidenceError", "Problem", "Store", "load_store", "RECORD_TYPES", "export_schemas"]

_EXPORTS = {"EvidenceError": "research.store.loader", "Problem": "research.store.loader",
            "Store": "research.store.loader", "load_store": "research.store.loader",
            "RECORD_TYPES": "research.store.schema"}

if TYPE_CHECKING:  # pragma: no cover
    from research.store.loader import EvidenceError, Problem, Store, load_store  # noqa: F401
    from research.store.schema import RECORD_TYPES  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'research.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def export_schemas() -> dict[str, dict]:
    """JSON Schema of every record type, keyed by kind."""
    from research.store.schema import RECORD_TYPES

    return {kind: model.model_json_schema() for kind, model in RECORD_TYPES.items()}
