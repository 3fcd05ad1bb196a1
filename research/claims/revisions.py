"""Verdicts across two versions of the evidence: which changed, and which inputs changed with them.

``evidence_at(rev, evidence, dest)`` writes the store (and the claim-checks file) as they were at
a git revision into a folder; ``diff_verifications`` compares the verdicts of two versions and,
for each changed verdict, lists the records (and fields) it read that differ between them.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from pydantic import ValidationError

from research.errors import InputError
from research.results import ClaimVerdict, ClaimVerdicts
from research.store.loader import Store

from research.claims.engine import Verification
from research.claims.verdict import LABEL_NAMES



def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise InputError("git is not installed; a diff between revisions needs it") from exc


def repo_root(path: Path) -> Path:
    folder = path if path.is_dir() else path.parent
    done = _git(["rev-parse", "--show-toplevel"], folder.resolve())
    if done.returncode != 0:
        raise InputError(f"{path}: not inside a git repository")
    return Path(done.stdout.decode().strip()).resolve()


def _extract(root: Path, rev: str, relative: str, dest: Path) -> bool:
    """Write ``relative`` as it was at ``rev`` under ``dest``; False when it did not exist then."""
    done = _git(["archive", "--format=tar", rev, "--", relative], root)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        if "did not match any files" in message or "pathspec" in message:
            return False
        raise InputError(f"git revision '{rev}': {message or 'cannot be read'}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(dest, filter="data")
    return True


def evidence_at(rev: str, evidence: Path, dest: Path, checks: Path | None = None) -> tuple[Path, Path | None]:
    """The evidence folder (and checks file) at a revision, written under ``dest``.

    Returns the materialised evidence folder and checks file (None if the file did not exist then).
    """
    root = repo_root(evidence)
    verify = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root)
    if verify.returncode != 0:
        raise InputError(f"git revision '{rev}': unknown revision")
    relative = evidence.resolve().relative_to(root).as_posix()
    if not _extract(root, rev, relative, dest):
        raise InputError(f"git revision '{rev}': has no '{relative}' folder")
    old_checks = None
    if checks is not None:
        rel_checks = checks.resolve().relative_to(root).as_posix()
        if _extract(root, rev, rel_checks, dest):
            old_checks = dest / rel_checks
    return dest / relative, old_checks


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class InputChange:
    """A record a verdict read that differs between the two versions."""

    record_id: str
    change: str  # "added", "removed" or "changed"
    fields: tuple[FieldChange, ...] = ()

    def text(self) -> str:
        if self.change != "changed":
            return f"{self.record_id}: {self.change}"
        parts = "; ".join(f"{f.field}: {f.old!r} -> {f.new!r}" for f in self.fields)
        return f"{self.record_id}: {parts}"


@dataclass
class VerdictChange:
    claim_id: str
    old_label: str | None
    new_label: str | None
    old_strength: str | None
    new_strength: str | None
    inputs: list[InputChange] = field(default_factory=list)
    checks_changed: bool = False
    old_reasons: list[str] = field(default_factory=list)
    new_reasons: list[str] = field(default_factory=list)
    old_reason: str = ""
    new_reason: str = ""
    rule: str = ""  # the rule of the current scale that decides the new label (diffs across code versions)

    @property
    def label_changed(self) -> bool:
        return self.old_label != self.new_label

    @property
    def reasons_added(self) -> list[str]:
        """Reasons of the new verdict that the old one did not give."""
        return [r for r in self.new_reasons if r not in self.old_reasons]

    def text(self) -> str:
        name = _label_name

        conf = ""
        if self.old_strength is not None and self.new_strength is not None:
            conf = f" (evidence strength {self.old_strength} -> {self.new_strength})"
        lines = [f"{self.claim_id}: {name(self.old_label)} -> {name(self.new_label)}{conf}"]
        lines += [f"    input changed: {change.text()}" for change in self.inputs]
        if self.checks_changed:
            lines.append("    the declared checks for this claim changed")
        if not self.inputs and not self.checks_changed:
            lines.append("    no input record or check changed: the current verdict scale judges it differently"
                         if self.rule else "    no input record changed (an analysis result or the code did)")
        if self.rule:
            lines.append(f"    rule now: {self.rule}")
        if self.new_reason and (self.rule or self.new_reason != self.old_reason):
            lines.append(f"    reason now: {self.new_reason}")
        lines += [f"    now: {reason}" for reason in self.reasons_added]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "old_label": self.old_label,
            "new_label": self.new_label,
            "old_strength": self.old_strength,
            "new_strength": self.new_strength,
            "label_changed": self.label_changed,
            "checks_changed": self.checks_changed,
            "inputs": [
                {"record": c.record_id, "change": c.change,
                 "fields": [{"field": f.field, "old": f.old, "new": f.new} for f in c.fields]}
                for c in self.inputs
            ],
            "new_reasons": self.reasons_added,
            "rule": self.rule,
            "old_reason": self.old_reason,
            "new_reason": self.new_reason,
        }


@dataclass
class VerdictDiff:
    old_name: str
    new_name: str
    changes: list[VerdictChange]
    unchanged: int

    def summary(self) -> str:
        head = f"Verdicts {self.old_name} -> {self.new_name}: {len(self.changes)} changed, {self.unchanged} unchanged"
        return "\n".join([head, *(c.text() for c in self.changes)])

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old_name, "new": self.new_name, "unchanged": self.unchanged,
                "changes": [c.to_dict() for c in self.changes]}


def _records(store: Store) -> dict[str, dict[str, Any]]:
    return {r.id: r.model_dump(mode="json") for records in store.records.values() for r in records}


def _record_change(record_id: str, old: dict | None, new: dict | None) -> InputChange | None:
    if old is None and new is None:
        return None
    if old is None:
        return InputChange(record_id, "added")
    if new is None:
        return InputChange(record_id, "removed")
    fields = tuple(FieldChange(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
                   if old.get(k) != new.get(k))
    return InputChange(record_id, "changed", fields) if fields else None


def diff_verifications(
    old: Verification, new: Verification, old_store: Store, new_store: Store,
    old_name: str = "old", new_name: str = "new",
) -> VerdictDiff:
    """Which verdicts differ between two versions, with the changed inputs behind each."""
    old_records, new_records = _records(old_store), _records(new_store)
    changes, unchanged = [], 0
    ids = list(dict.fromkeys([v.claim_id for v in old] + [v.claim_id for v in new]))
    for claim_id in ids:
        before = old[claim_id] if claim_id in old else None
        after = new[claim_id] if claim_id in new else None
        same = (
            before is not None and after is not None and before.label == after.label
            and before.strength.level == after.strength.level
        )
        if same:
            unchanged += 1
            continue
        if before is None or after is None:  # a claim added or removed: its inputs are all new or gone
            changes.append(VerdictChange(claim_id, before.label if before else None, after.label if after else None,
                                         before.strength.level if before else None,
                                         after.strength.level if after else None,
                                         [_record_change(claim_id, old_records.get(claim_id),
                                                         new_records.get(claim_id))]))
            continue
        read = [claim_id]
        for verdict in (before, after):
            read += verdict.evidence + verdict.gaps
            read += [e for f in verdict.findings for e in f.evidence]
        inputs = [c for c in (_record_change(r, old_records.get(r), new_records.get(r))
                              for r in dict.fromkeys(read)) if c is not None]
        old_entry, new_entry = old.plan.for_claim(claim_id), new.plan.for_claim(claim_id)
        checks_changed = (old_entry.model_dump() if old_entry else None) != (new_entry.model_dump() if new_entry else None)
        changes.append(VerdictChange(claim_id, before.label, after.label, before.strength.level, after.strength.level,
                                     inputs, checks_changed, list(before.rationale), list(after.rationale),
                                     before.reason, after.reason))
    return VerdictDiff(old_name, new_name, changes, unchanged)


# --- verdicts as the code of a revision computed them ------------------------------------------


def verdicts_at(rev: str, root: Path, dest: Path, *, no_analyses: bool = True,
                evidence: str = "evidence", checks: str = "analyses/claim-checks.yaml") -> list[ClaimVerdict]:
    """The verdicts that revision's own code gives on that revision's evidence (its ``claims --json``).

    The whole tree at ``rev`` is written under ``dest`` and its CLI is run there in a subprocess,
    so the old verdicts are the ones that revision published, whatever the scale was then.
    """
    import os
    import sys

    verify = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root)
    if verify.returncode != 0:
        raise InputError(f"git revision '{rev}': unknown revision")
    done = _git(["archive", "--format=tar", rev], root)
    if done.returncode != 0:
        raise InputError(f"git revision '{rev}': {done.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(dest, filter="data")
    command = [sys.executable, "-m", "research.cli", "claims", "--evidence", evidence, "--checks", checks, "--json"]
    if no_analyses:
        command.append("--no-analyses")
    env = {**os.environ, "PYTHONPATH": str(dest)}
    ran = subprocess.run(command, cwd=dest, env=env, capture_output=True, check=False)
    if ran.returncode != 0:
        raise InputError(f"git revision '{rev}': its `research claims --json` failed: "
                         f"{ran.stderr.decode(errors='replace').strip()[-400:]}")
    try:
        verdicts = ClaimVerdicts.model_validate_json(ran.stdout).claims
    except ValidationError as exc:
        raise InputError(f"git revision '{rev}': its `research claims --json` gives no verdicts of this version: "
                         f"{exc.errors()[0]['msg']}") from exc
    return [v for v in verdicts if v.claim_id]


# Labels of earlier scales that mean the same as a current one.
RENAMED_LABELS = {"opinion": "not_checkable"}


def _label_name(label: str | None) -> str:
    if label is None:
        return "(no claim)"
    return LABEL_NAMES.get(label, label.replace("_", " ").capitalize())


def diff_with_code(
    old_verdicts: Iterable[ClaimVerdict | Mapping[str, Any]], new: Verification, old_store: Store, new_store: Store,
    old_plan: dict[str, Any] | None, new_plan: dict[str, Any] | None, old_name: str = "old", new_name: str = "new",
) -> VerdictDiff:
    """Old verdicts as the old code gave them against the new ones: each change lists the changed
    inputs, a changed plan entry, and the rule of the current scale that decides the new label."""
    from research.claims.verdict import LABEL_RULES

    old_records, new_records = _records(old_store), _records(new_store)

    def entries(plan: dict[str, Any] | None) -> dict[str, Any]:
        return {e.get("claim"): e for e in (plan or {}).get("claims") or [] if isinstance(e, dict)}

    old_entries, new_entries = entries(old_plan), entries(new_plan)
    before = {v.claim_id: v for v in map(ClaimVerdict.model_validate, old_verdicts)}
    changes, unchanged = [], 0
    for claim_id in dict.fromkeys([*before, *(v.claim_id for v in new)]):
        old = before.get(claim_id)
        after = new[claim_id] if claim_id in new else None
        old_label = old.label if old else None
        old_label = RENAMED_LABELS.get(old_label, old_label)
        if after is not None and old_label == after.label:
            unchanged += 1
            continue
        read = [claim_id]
        if after is not None:
            read += after.evidence + after.gaps + [r for p in after.parts for r in p.evidence + p.context]
        if old:
            read += old.evidence + old.gaps
        inputs = [c for c in (_record_change(r, old_records.get(r), new_records.get(r))
                              for r in dict.fromkeys(read)) if c is not None]
        change = VerdictChange(
            claim_id, old_label, after.label if after else None, old.evidence_strength if old else None,
            after.strength.level if after else None, inputs,
            old_entries.get(claim_id) != new_entries.get(claim_id),
            [], [],  # the reasons of two scales do not compare sentence by sentence; the rule and reason do
            (old.reason or old.rationale or "") if old else "", after.reason if after else "",
        )
        if after is not None:
            change.rule = f"{LABEL_NAMES[after.label]} = {LABEL_RULES[after.label]}"
        changes.append(change)
    return VerdictDiff(old_name, new_name, changes, unchanged)
