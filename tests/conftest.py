"""Shared fixtures: a small valid evidence store written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

MINIMAL_STORE = {
    "sources": [
        {"id": "src-a", "kind": "article", "citation": "An article", "url": "https://example.org/a"},
        {"id": "src-b", "kind": "study", "citation": "A study"},
    ],
    "claims": [
        {
            "id": "claim-1",
            "text": "120,000 cameras",
            "source": "src-a",
            "location": "paragraph 1",
            "kind": "numeric",
            "quantities": [{"name": "cameras", "value": 120000, "unit": "cameras"}],
        }
    ],
    "studies": [
        {"id": "study-1", "title": "Study one", "source": "src-b", "design": "controlled_before_after", "intervention": "CCTV"}
    ],
    "estimates": [
        {
            "id": "est-1",
            "study": "study-1",
            "source": "src-b",
            "where_read": "Table 2",
            "quote": "RES 1.2 (0.9-1.6)",
            "outcome": "all crime",
            "measure": "RES",
            "provenance": "primary",
            "estimate": 1.2,
            "ci_low": 0.9,
            "ci_high": 1.6,
        }
    ],
    "gaps": [
        {"id": "gap-1", "what": "counts", "why_it_matters": "needed", "who_may_hold": "police", "related": ["claim-1"]}
    ],
}


def write_store(root: Path, records: dict[str, list[dict]]) -> Path:
    for kind, items in records.items():
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{kind}.yaml").write_text(yaml.safe_dump(items, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return write_store(tmp_path / "evidence", MINIMAL_STORE)
