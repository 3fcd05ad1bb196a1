"""The package's layers import only downwards, and statistics never draw.

evidence files -> store -> effect sizes -> models -> claim verdicts -> reports; plots are drawn
from results by the layers that present them (pipeline, report, commands), never by models.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "research"

# Lower number = lower layer. A module may import its own layer or lower ones.
LAYERS = {
    "errors": 0, "parallel": 0, "thresholds": 0,
    "store": 1,
    "effects": 2, "dataset": 2,
    "meta": 3, "bayes": 3, "local": 3, "analyses": 3,
    "grade": 4, "verbal": 4, "claims": 4, "extract": 4, "results": 4,
    "plots": 5,
    "report": 6,
    "pipeline": 7,
    "commands": 8, "cli": 8,
}
STATISTICS = {"store", "effects", "dataset", "meta", "bayes", "local", "claims", "grade", "verbal"}


def _layer_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downwards(path):
    relative = path.relative_to(PACKAGE)
    own = relative.parts[0].removesuffix(".py")
    if own == "__init__":
        return
    assert own in LAYERS, f"{relative}: add its package to the layer table"
    for name in _imports(path):
        if name.startswith("research.") and _layer_of(name) in LAYERS:
            target = _layer_of(name)
            assert LAYERS[target] <= LAYERS[own], f"{relative} imports {name}, a higher layer"
        if own in STATISTICS:
            assert not name.startswith("matplotlib"), f"{relative}: statistics must not draw ({name})"


def test_the_table_knows_every_package():
    packages = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    packages -= {"__init__", "__pycache__", "templates"}
    assert packages <= set(LAYERS)
