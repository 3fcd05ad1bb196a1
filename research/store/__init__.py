"""The evidence store: record schema, safe reading, loading and validation, index, filters, atomic writes."""

from research.store.loader import EvidenceError, Problem, Store, load_store
from research.store.schema import RECORD_TYPES

__all__ = ["EvidenceError", "Problem", "Store", "load_store", "RECORD_TYPES", "export_schemas"]


def export_schemas() -> dict[str, dict]:
    """JSON Schema of every record type, keyed by kind."""
    return {kind: model.model_json_schema() for kind, model in RECORD_TYPES.items()}
