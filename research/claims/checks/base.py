"""Shared parameter model and arithmetic helpers of the checks."""

from __future__ import annotations

import math
from typing import Any, Literal, Mapping, Union

from pydantic import BaseModel, ConfigDict, Field

from research.claims.context import CheckContext
from research.claims.verdict import Operand, Step, format_number

# A reference to a number: "claim:<quantity>", "step:<name>", a fact id, or a constant mapping.
Ref = Union[str, dict[str, Any]]
Formula = Literal["divide", "multiply", "add", "subtract"]
SYMBOLS = {"divide": "/", "multiply": "×", "add": "+", "subtract": "−"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckParams(Strict):
    """Parameters every check accepts."""

    gaps: list[str] = Field(default_factory=list, description="Gap ids that this check needs filled")


def ref_text(ref: Ref) -> str:
    if isinstance(ref, Mapping):
        return f"constant {ref.get('value')} {ref.get('unit', '')}".strip()
    return ref


def show(operand: Operand) -> str:
    return f"{format_number(operand.value)} {operand.unit}".strip()


def compute(
    ctx: CheckContext,
    name: str,
    formula: Formula,
    refs: list[Ref],
    unit: str | None = None,
    description: str = "",
) -> Step | None:
    """Resolve the inputs and compute one step; None (inputs noted as missing) if any is absent."""
    operands = [ctx.operand(ref) for ref in refs]
    if any(op is None for op in operands):
        return None
    values = [op.value for op in operands]
    if formula == "divide":
        if len(values) != 2:
            raise ValueError(f"step '{name}': divide takes exactly two inputs")
        if values[1] == 0:
            raise ValueError(f"step '{name}': division by zero ({ref_text(refs[1])} is 0)")
        result = values[0] / values[1]
        default_unit = f"{operands[0].unit} per {singular(operands[1].unit)}"
    elif formula == "multiply":
        result = math.prod(values)
        default_unit = " × ".join(op.unit for op in operands)
    elif formula == "add":
        result = sum(values)
        default_unit = operands[0].unit
    else:
        if len(values) != 2:
            raise ValueError(f"step '{name}': subtract takes exactly two inputs")
        result = values[0] - values[1]
        default_unit = operands[0].unit
    text = f" {SYMBOLS[formula]} ".join(f"{op.name} ({show(op)})" for op in operands)
    step = Step(name, text, operands, result, unit or default_unit, description)
    ctx.steps[name] = step
    return step


def singular(unit: str) -> str:
    """'violations' -> 'violation' (for 'euros per violation'); other words are left alone."""
    if unit.endswith("s") and not unit.endswith("ss") and " " not in unit:
        return unit[:-1]
    return unit
