"""The checks a claim can be given, by name.

Each check is a function ``(context, params) -> Finding`` with a pydantic model for its
parameters, so a declaration in ``analyses/claim-checks.yaml`` is validated before it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from research.claims.checks.base import CheckParams
from research.claims.context import CheckContext
from research.claims.verdict import Finding


@dataclass(frozen=True)
class CheckType:
    name: str
    params: type[CheckParams]
    run: Callable[[CheckContext, BaseModel], Finding]
    summary: str


CHECKS: dict[str, CheckType] = {}


def register(name: str, params: type[CheckParams]) -> Callable:
    """Decorator: make a check function available under ``name``."""

    def wrap(func: Callable[[CheckContext, BaseModel], Finding]) -> Callable:
        summary = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else name
        CHECKS[name] = CheckType(name, params, func, summary)
        return func

    return wrap


# Importing the modules registers their checks.
from research.claims.checks import arithmetic, causal, consistency, documented, sources  # noqa: E402,F401

__all__ = ["CHECKS", "CheckType", "CheckParams", "register"]
