"""Subgroup analysis: one random-effects model per subgroup and a test of subgroup differences.

Two tests are reported, as is usual with metafor:
- ``q_between``: a Wald-type test of the subgroup estimates (a common-effect meta-regression of the
  subgroup estimates on subgroup with their own standard errors), which allows a separate tau² in
  each subgroup;
- ``mixed``: the moderator test of one mixed-effects model with subgroup indicators, which assumes a
  single residual tau² shared by all subgroups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from research.errors import InputError
from research.meta.model import MetaResults, check_outcomes, fit_design, rma


@dataclass(frozen=True)
class SubgroupResults:
    groups: list[str]
    fits: dict[str, MetaResults] = field(repr=False)
    q_between: float
    df_between: int
    p_between: float
    mixed: MetaResults = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": {g: self.fits[g].to_dict() for g in self.groups},
            "q_between": self.q_between,
            "df_between": self.df_between,
            "p_between": self.p_between,
            "mixed_qm": self.mixed.qm,
            "mixed_qm_df": list(self.mixed.qm_df),
            "mixed_qm_p": self.mixed.qm_p,
            "mixed_tau2": self.mixed.tau2,
        }

    def summary(self) -> str:
        lines = [f"Subgroup analysis ({len(self.groups)} subgroups)", ""]
        width = max(8, *(len(g) for g in self.groups))
        lines.append(f"{'subgroup':<{width}}  {'k':>3} {'estimate':>9} {'ci.lb':>9} {'ci.ub':>9} {'tau2':>8} {'I2':>6}")
        for g in self.groups:
            f = self.fits[g]
            lines.append(f"{g:<{width}}  {f.k:>3} {f.estimate:>9.4f} {f.ci_low[0]:>9.4f} {f.ci_high[0]:>9.4f} "
                         f"{f.tau2:>8.4f} {f.i2:>5.1f}%")
        lines.append("")
        lines.append(f"Test of subgroup differences (separate tau2): Q({self.df_between}) = {self.q_between:.4f}, "
                     f"p = {self.p_between:.4f}")
        stat = "F" if self.mixed.test == "hksj" else "QM"
        lines.append(f"Mixed-effects model (common tau2): {stat} = {self.mixed.qm:.4f}, p = {self.mixed.qm_p:.4f}")
        return "\n".join(lines)


def subgroup(
    yi,
    vi,
    groups: Sequence,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    *,
    labels: Sequence[str] | None = None,
) -> SubgroupResults:
    """Fit the model separately within each subgroup (in order of first appearance) and compare them."""
    y, v, names = check_outcomes(yi, vi, labels)
    group_labels = [str(g) for g in groups]
    if len(group_labels) != y.size:
        raise InputError(f"groups: {len(group_labels)} values for {y.size} studies")
    missing = [names[i] for i, g in enumerate(groups) if g is None or (isinstance(g, float) and np.isnan(g))]
    if missing:
        raise InputError(f"groups: no subgroup for {', '.join(missing[:5])}")
    order = list(dict.fromkeys(group_labels))
    if len(order) < 2:
        raise InputError("subgroup analysis needs at least two subgroups")
    members = {g: np.array([lab == g for lab in group_labels]) for g in order}
    small = [f"{g!r} (k = {int(m.sum())})" for g, m in members.items() if m.sum() < 2]
    if small:
        raise InputError(f"each subgroup needs at least 2 studies; too few in {', '.join(small)}")
    fits = {
        g: rma(y[m], v[m], method=method, test=test, level=level, labels=[names[i] for i in np.flatnonzero(m)])
        for g, m in members.items()
    }
    est = np.array([fits[g].estimate for g in order])
    se = np.array([fits[g].se[0] for g in order])
    w = 1 / se**2
    pooled = np.sum(w * est) / w.sum()
    q_between = float(np.sum(w * (est - pooled) ** 2))
    df_between = len(order) - 1
    dummies = np.column_stack([np.ones(y.size)] + [members[g].astype(float) for g in order[1:]])
    mixed = fit_design(y, v, dummies, ["intercept", *(f"subgroup[{g}]" for g in order[1:])], labels=names,
                       method=method, test=test, level=level)
    return SubgroupResults(order, fits, q_between, df_between, float(stats.chi2.sf(q_between, df_between)), mixed)
