"""Which checks run for which claim: the declarations in ``analyses/claim-checks.yaml``.

The file is data. Each entry names a claim, the checks to run with their parameters (which name
facts, estimates, gaps and claim quantities), and gaps that block parts of the claim no check can
reach. A claim with no entry gets a verdict from its kind alone.

    claims:
      - claim: claim-fines-total
        checks:
          - check: average_fine
            params: {total: "claim:fines_total", count: "claim:violations_recorded", ...}
        gaps: [gap-fines-report]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from research.errors import InputError
from research.claims.checks import CHECKS
from research.claims.checks.base import Strict
from research.store.files import ReadError, load_yaml, read_text

DEFAULT_PATH = Path("analyses/claim-checks.yaml")


class CheckSpec(Strict):
    check: str
    params: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None


class ClaimPlan(Strict):
    claim: str
    checks: list[CheckSpec] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list, description="Gaps that block parts of the claim")
    note: str | None = None


class CheckPlan(Strict):
    claims: list[ClaimPlan] = Field(default_factory=list)
    file: str | None = None

    def for_claim(self, claim_id: str) -> ClaimPlan | None:
        for entry in self.claims:
            if entry.claim == claim_id:
                return entry
        return None

    def typed_params(self, entry: ClaimPlan, spec: CheckSpec) -> BaseModel:
        return _params(self.file or "claim checks", entry.claim, spec)


def _params(file: str, claim_id: str, spec: CheckSpec) -> BaseModel:
    where = f"{file}: claim '{claim_id}': check '{spec.check}'"
    check = CHECKS.get(spec.check)
    if check is None:
        raise InputError(f"{where}: unknown check (known: {', '.join(sorted(CHECKS))})")
    try:
        return check.params.model_validate(spec.params)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "params"
        raise InputError(f"{where}: field 'params.{field}': {first['msg']}") from exc


def parse_plan(data: Any, file: str = "claim checks") -> CheckPlan:
    """Validate a plan given as data; errors name the file, claim, check and field."""
    if data is None:
        return CheckPlan(file=file)
    if not isinstance(data, dict):
        raise InputError(f"{file}: expected a mapping with a 'claims' list")
    try:
        plan = CheckPlan.model_validate({**data, "file": file})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        where = ""
        if len(loc) >= 2 and loc[0] == "claims" and isinstance(loc[1], int):
            entries = data.get("claims") or []
            entry = entries[loc[1]] if loc[1] < len(entries) else {}
            where = f" claim '{entry.get('claim', f'#{loc[1] + 1}') if isinstance(entry, dict) else loc[1] + 1}':"
            loc = loc[2:]
        field = ".".join(str(part) for part in loc) or "(entry)"
        raise InputError(f"{file}:{where} field '{field}': {first['msg']}") from exc
    seen: set[str] = set()
    for entry in plan.claims:
        if entry.claim in seen:
            raise InputError(f"{file}: claim '{entry.claim}': declared twice")
        seen.add(entry.claim)
        for spec in entry.checks:
            _params(file, entry.claim, spec)
    return plan


def load_plan(path: str | Path | None = DEFAULT_PATH) -> CheckPlan:
    """Read the declarations; a missing file is an empty plan (every claim judged by its kind)."""
    if path is None:
        return CheckPlan()
    path = Path(path)
    if not path.exists():
        return CheckPlan(file=str(path))
    try:
        data = load_yaml(read_text(path))  # UTF-8 by line, duplicate keys refused
    except ReadError as exc:
        raise InputError(f"{path}: cannot be read: {exc}") from exc
    return parse_plan(data, str(path))
