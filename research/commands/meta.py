"""Meta-analysis commands: ``research meta`` (fit a model to a CSV) and ``research effect-sizes``.

``research meta FILE.csv --yi COL --vi COL --json`` prints one JSON object whose keys are a
contract that scripts rely on: k, estimate, se, ci_low, ci_high, pi_low, pi_high, tau2,
tau2_ci_low, tau2_ci_high, i2 (percent), h2, q, q_p; with ``--mods`` also ``coefficients``
(name, estimate, se, ...), qm and r2; with ``--bias`` also ``egger`` {z, p, ...} and
``trimfill`` {k0, side, estimate, ...}. With ``--random`` (a multilevel model) the variance keys are
sigma2, sigma2_ci_low, sigma2_ci_high (lists, one per level), components and n_levels.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from research.commands._common import jsonable, print_json, read_csv
from research.errors import InputError

out = Console()


# --------------------------------------------------------------------------- CSV input


def _column(frame, path: Path, name: str, option: str) -> np.ndarray:
    """A numeric column; every empty or non-numeric cell is an error naming row and line."""
    import numpy as np
    import pandas as pd

    if name not in frame.columns:
        raise InputError(f"{path}: {option} {name!r} is not a column (columns: {', '.join(map(str, frame.columns))})")
    raw = frame[name]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        cell = raw.iloc[row]
        what = "is empty" if pd.isna(cell) else f"is not a finite number ({cell!r})"
        more = f" (and {bad.size - 1} more row(s))" if bad.size > 1 else ""
        raise InputError(f"{path}: column {name!r}, row {row + 1} (line {row + 2}) {what}{more}")
    # Squares and inverses of numbers this far out overflow or lose all precision in the fit.
    extreme = np.flatnonzero((np.abs(values) > EXTREME) | ((values != 0) & (np.abs(values) < 1 / EXTREME)))
    if extreme.size:
        row = int(extreme[0])
        raise InputError(f"{path}: column {name!r}, row {row + 1} (line {row + 2}) is {values[row]:.3g}, outside "
                         f"the range a model can be fitted on (between {1 / EXTREME:g} and {EXTREME:g} in size)")
    return values


EXTREME = 1e100


def _labels(frame, path: Path, label: str | None) -> list[str]:
    if label is None:
        for candidate in ("label", "study", "id"):
            if candidate in frame.columns:
                label = candidate
                break
    if label is None:
        return [f"row {i + 1}" for i in range(len(frame))]
    if label not in frame.columns:
        raise InputError(f"{path}: --label {label!r} is not a column")
    return [str(v) for v in frame[label]]


# --------------------------------------------------------------------------- research meta


def meta(
    file: Path = typer.Argument(..., help="CSV file with one row per study."),
    yi: str = typer.Option(..., "--yi", help="Column with the effect sizes (log scale for ratios)."),
    vi: str = typer.Option(None, "--vi", help="Column with the sampling variances."),
    sei: str = typer.Option(None, "--sei", help="Column with standard errors (instead of --vi)."),
    method: str = typer.Option("REML", "--method", help="tau2 estimator: REML, ML, DL, PM, HE, SJ, EB, or EE (common effect)."),
    test: str = typer.Option("z", "--test", help=(
        "Inference: z (Wald) or hksj (Knapp-Hartung, t and F with k-p df); with --random: z or t (t and F with k-p df).")),
    mods: str = typer.Option(None, "--mods", help="Comma-separated moderator columns for a meta-regression, e.g. a,b."),
    random: str = typer.Option(None, "--random", help=(
        "Comma-separated grouping columns, outermost first, for a multilevel model (metafor's rma.mv with "
        "~ 1 | a/b), e.g. evaluation,estimate. Methods REML or ML; tests z or t.")),
    bias: bool = typer.Option(False, "--bias", help="Add small-study checks: Egger's test, trim-and-fill, PET-PEESE, 3PSM."),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the intervals."),
    label: str = typer.Option(None, "--label", help="Column with study labels (default: label, study or id if present)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as one JSON object."),
    forest: Path = typer.Option(None, "--forest", help="Also save a forest plot to this file (PNG, SVG or PDF)."),
    funnel: Path = typer.Option(None, "--funnel", help="Also save a funnel plot to this file."),
    ratio: bool = typer.Option(False, "--ratio", help="Plots: show exp(effect) on a log axis (for log ratios)."),
) -> None:
    """Fit a random-effects meta-analysis or meta-regression to a CSV file.

    With --mods, estimate/se/CI/PI describe the intercept (all moderators at 0) and the JSON
    gains coefficients, qm and r2. Results agree with R's metafor 3.8 rma() to 1e-6.
    With --random, a multilevel model (rma.mv): the JSON has sigma2 (one per level, with
    profile-likelihood CIs) in place of tau2, i2 and h2.
    """
    from research.meta import rma

    if (vi is None) == (sei is None):
        raise InputError("give exactly one of --vi and --sei")
    for option, target in (("--forest", forest), ("--funnel", funnel)):
        _check_plot_target(option, target)
    frame = read_csv(file)
    y = _column(frame, file, yi, "--yi")
    v = _column(frame, file, vi, "--vi") if vi is not None else _column(frame, file, sei, "--sei") ** 2
    labels = _labels(frame, file, label)
    moderators = None
    if mods:
        names = [m.strip() for m in mods.split(",") if m.strip()]
        moderators = {name: _column(frame, file, name, "--mods") for name in names}
    if random:
        _multilevel(frame, file, y, v, labels, moderators, random, method, test, level, as_json,
                    unsupported={"--bias": bias, "--forest": forest, "--funnel": funnel})
        return
    try:
        fit = rma(y, v, mods=moderators, method=method, test=test, level=level, labels=labels)
        result = fit.to_dict()
        text = None if as_json else fit.summary().as_text()
    except InputError as exc:
        raise InputError(f"{file}: {exc}") from exc
    except ArithmeticError as exc:  # e.g. variances so small that the weights overflow
        import numpy as np

        raise InputError(f"{file}: the model cannot be fitted to these numbers ({exc}); check --yi/--vi for "
                         f"extreme values (smallest variance {np.min(v):.3g}, largest |effect| "
                         f"{np.max(np.abs(y)):.3g})") from exc
    if bias:
        result.update(_bias(fit))
    if forest is not None:
        from research.plots.meta import forest_plot

        _save_plot(forest_plot(fit, ratio=ratio), forest, "--forest")
    if funnel is not None:
        from research.meta import trimfill
        from research.plots.meta import funnel_plot

        _save_plot(funnel_plot(trimfill(fit) if bias and fit.intercept_only else fit, ratio=ratio), funnel, "--funnel")
    if as_json:
        print_json(jsonable(result))
        return
    out.print(text, highlight=False, markup=False)
    if bias:
        out.print("", highlight=False)
        out.print(_bias_text(result), highlight=False, markup=False)


def _multilevel(frame, file: Path, y, v, labels, moderators, random: str, method: str, test: str, level: float,
                as_json: bool, unsupported: dict[str, Any]) -> None:
    from research.meta import rma_mv

    given = [option for option, value in unsupported.items() if value]
    if given:
        raise InputError(f"{', '.join(given)} apply to models without --random")
    groups = [g.strip() for g in random.split(",") if g.strip()]
    for name in groups:
        if name not in frame.columns:
            raise InputError(f"{file}: --random {name!r} is not a column (columns: {', '.join(map(str, frame.columns))})")
    try:
        fit = rma_mv(y, v, random={name: frame[name].tolist() for name in groups}, mods=moderators,
                     method=method, test=test, level=level, labels=labels)
    except InputError as exc:
        raise InputError(f"{file}: {exc}") from exc
    if as_json:
        print_json(jsonable(fit.to_dict()))
        return
    out.print(fit.summary().as_text(), highlight=False, markup=False)


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def _check_plot_target(option: str, target: Path | None) -> None:
    """Refuse a plot file in a missing folder or of an unknown type before any work is done."""
    if target is None:
        return
    if target.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"{option} {target}: give a file ending in {', '.join(PLOT_SUFFIXES)}")
    if not target.parent.is_dir():
        raise InputError(f"{option} {target}: the folder {target.parent} does not exist")
    if target.is_dir():
        raise InputError(f"{option} {target}: is a folder")


def _save_plot(figure, target: Path, option: str) -> None:
    try:
        figure.savefig(target, bbox_inches="tight")
    except OSError as exc:
        raise InputError(f"{option} {target}: cannot be written: {exc.strerror or exc}") from exc


def _bias(fit) -> dict[str, Any]:
    """Small-study checks; a check that cannot run gives null and a note saying why."""
    from research.meta import egger, pet_peese, selmodel, trimfill

    checks = {
        "egger": lambda: egger(fit).to_dict(),
        "trimfill": lambda: trimfill(fit).to_dict(),
        "pet_peese": lambda: pet_peese(fit).to_dict(),
        "selmodel": lambda: selmodel(fit, steps=(0.025,), alternative="greater" if fit.estimate >= 0 else "less").to_dict(),
    }
    result: dict[str, Any] = {}
    for name, run in checks.items():
        try:
            result[name] = run()
        except InputError as exc:
            result[name] = None
            result[f"{name}_note"] = str(exc)
    return result


def _bias_text(result: dict[str, Any]) -> str:
    lines = ["Small-study effects"]
    egger = result.get("egger")
    lines.append(f"  Egger's test: z = {egger['z']:.4f}, p = {egger['p']:.4f}" if egger
                 else f"  Egger's test: not computed ({result.get('egger_note')})")
    tf = result.get("trimfill")
    lines.append(f"  Trim-and-fill: {tf['k0']} study(ies) imputed on the {tf['side']}; adjusted estimate "
                 f"{tf['estimate']:.4f} [{tf['ci_low']:.4f}, {tf['ci_high']:.4f}]" if tf
                 else f"  Trim-and-fill: not computed ({result.get('trimfill_note')})")
    pp = result.get("pet_peese")
    lines.append(f"  PET-PEESE: {pp['chosen']} estimate {pp['estimate']:.4f}" if pp
                 else f"  PET-PEESE: not computed ({result.get('pet_peese_note')})")
    sm = result.get("selmodel")
    lines.append(f"  3PSM ({sm['alternative']}): estimate {sm['estimate']:.4f}, tau2 {sm['tau2']:.4f}, "
                 f"delta {sm['delta'][1]:.4f}, LRT p = {sm['lrt_p']:.4f}" if sm
                 else f"  3PSM: not computed ({result.get('selmodel_note')})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- research effect-sizes

# options naming input columns; their names are escalc's argument names
_COLUMN_OPTIONS = ("ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i", "m1i", "m2i", "sd1i", "sd2i",
                   "ri", "ni", "xi", "mi", "estimate", "ci_low", "ci_high", "se")


def effect_sizes(
    file: Path = typer.Argument(..., help="CSV file with one row per study."),
    measure: str = typer.Option(..., "--measure", help=(
        "RR, OR, RD, AS, PETO (2x2 counts --ai --bi --ci --di or --ai --n1i --ci --n2i); IRR, IRD (--x1i --x2i "
        "--t1i --t2i); MD, SMD, ROM (--m1i --m2i --sd1i --sd2i --n1i --n2i); COR, ZCOR (--ri --ni); PR, PLN, PLO "
        "(--xi --ni); RES: relative effect size of an area-based evaluation (--ai/--bi crimes before/after in the "
        "experimental area, --ci/--di before/after in the control area, --overdispersion); RATIO-CI (--estimate "
        "--ci-low --ci-high); RATIO-SE (--estimate --se --se-scale).")),
    ai: str = typer.Option(None, "--ai", help="Column: 2x2 cell a (events, treated / experimental before)."),
    bi: str = typer.Option(None, "--bi", help="Column: 2x2 cell b (non-events, treated / experimental after)."),
    ci: str = typer.Option(None, "--ci", help="Column: 2x2 cell c (events, control / control before)."),
    di: str = typer.Option(None, "--di", help="Column: 2x2 cell d (non-events, control / control after)."),
    n1i: str = typer.Option(None, "--n1i", help="Column: group 1 size."),
    n2i: str = typer.Option(None, "--n2i", help="Column: group 2 size."),
    x1i: str = typer.Option(None, "--x1i", help="Column: events in group 1 (rates)."),
    x2i: str = typer.Option(None, "--x2i", help="Column: events in group 2 (rates)."),
    t1i: str = typer.Option(None, "--t1i", help="Column: person-time in group 1."),
    t2i: str = typer.Option(None, "--t2i", help="Column: person-time in group 2."),
    m1i: str = typer.Option(None, "--m1i", help="Column: mean of group 1."),
    m2i: str = typer.Option(None, "--m2i", help="Column: mean of group 2."),
    sd1i: str = typer.Option(None, "--sd1i", help="Column: SD of group 1."),
    sd2i: str = typer.Option(None, "--sd2i", help="Column: SD of group 2."),
    ri: str = typer.Option(None, "--ri", help="Column: correlation."),
    ni: str = typer.Option(None, "--ni", help="Column: sample size."),
    xi: str = typer.Option(None, "--xi", help="Column: events (proportions)."),
    mi: str = typer.Option(None, "--mi", help="Column: non-events (proportions)."),
    estimate: str = typer.Option(None, "--estimate", help="Column: reported ratio (RATIO-CI, RATIO-SE)."),
    ci_low: str = typer.Option(None, "--ci-low", help="Column: lower CI limit of the reported ratio."),
    ci_high: str = typer.Option(None, "--ci-high", help="Column: upper CI limit of the reported ratio."),
    se: str = typer.Option(None, "--se", help="Column: standard error of the reported ratio."),
    se_scale: str = typer.Option("log", "--se-scale", help="RATIO-SE: 'log' (SE of the log ratio) or 'natural'."),
    ci_level: float = typer.Option(0.95, "--ci-level", help="RATIO-CI: confidence level of the reported CI."),
    overdispersion: str = typer.Option("1", "--overdispersion", help="RES: variance inflation factor (a number or a column)."),
    add: float = typer.Option(None, "--add", help="Zero-cell correction added to counts (default 1/2, as metafor)."),
    to: str = typer.Option("only0", "--to", help="Which tables get --add: only0, all, if0all, none."),
    drop00: bool = typer.Option(False, "--drop00", help="Give no effect size for tables with no events in both groups."),
    vtype: str = typer.Option("LS", "--vtype", help="Variance type as in metafor (LS; UB for RD, SMD, PR; HO for MD, ROM)."),
    yi_name: str = typer.Option("yi", "--yi-name", help="Name of the output column for effect sizes."),
    vi_name: str = typer.Option("vi", "--vi-name", help="Name of the output column for sampling variances."),
    output: Path = typer.Option(None, "--out", "-o", help="Write the CSV here (default: standard output)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite existing yi / vi columns."),
) -> None:
    """Compute effect sizes (yi) and sampling variances (vi) from raw columns, as metafor's escalc().

    The input CSV is written back with two columns added. Ratios are on the log scale.
    """
    from research.effects import escalc

    frame = read_csv(file)
    for name in (yi_name, vi_name):
        if name in frame.columns and not replace:
            raise InputError(f"{file}: column {name!r} exists already; use --replace or --yi-name/--vi-name")
    columns = {k: v for k, v in locals().items() if k in _COLUMN_OPTIONS and v is not None}
    # every column is read here, so that a bad cell is reported with its row and line
    inputs = {name: _column(frame, file, column, "--" + name.replace("_", "-")) for name, column in columns.items()}
    try:
        inputs["overdispersion"] = float(overdispersion)
    except ValueError:
        inputs["overdispersion"] = _column(frame, file, overdispersion, "--overdispersion")
    try:
        result = escalc(measure, **inputs, level=ci_level, se_scale=se_scale, add=add, to=to, drop00=drop00,
                        vtype=vtype)
    except InputError as exc:
        raise InputError(f"{file}: {exc}") from exc
    frame[yi_name] = result["yi"].to_numpy()
    frame[vi_name] = result["vi"].to_numpy()
    text = frame.to_csv(index=False, float_format="%.17g")
    if output is None:
        sys.stdout.write(text)
        return
    from research.store.write import atomic_write_text

    atomic_write_text(output, text)
    Console(stderr=True).print(f"wrote {len(frame)} effect sizes to {output}", highlight=False, markup=False)


PANEL = "Meta-analysis"


def register(app: typer.Typer) -> None:
    app.command("meta", rich_help_panel=PANEL)(meta)
    app.command("effect-sizes", rich_help_panel=PANEL)(effect_sizes)
