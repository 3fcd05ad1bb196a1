"""Bayesian and local-data commands.

``research bayes-meta FILE.csv --yi COL --vi COL --json`` prints one JSON object whose keys
are a contract: method, k, mu and tau {mean, sd, median, q025, q975}, predictive {mean, sd,
median, q025, q975}, p_mu_below_0, p_pred_below_0, diagnostics (with ``ok``) and flag (null,
or a warning when MCMC diagnostics fail). Also: ``bayes-sensitivity`` (prior sensitivity
table), ``transport`` (prediction for a target setting), ``voi`` (value of information of
data gaps), ``its`` (interrupted time series) and ``did`` (difference in differences).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from research.commands._common import JOBS, SCHEDULER, jsonable, print_json, read_csv
from research.errors import InputError

err = Console(stderr=True)

YI = typer.Option("yi", "--yi", help="Column with the effect sizes (log scale, positive = more events).")
VI = typer.Option(None, "--vi", help="Column with the sampling variances (default: vi).")
SEI = typer.Option(None, "--sei", help="Column with standard errors, instead of --vi.")
ID = typer.Option("id", "--id", help="Column with study ids (rows are numbered if absent).")
MU_PRIOR = typer.Option("normal:0,1", "--mu-prior", help="Prior for mu: normal:M,S or flat.")
TAU_PRIOR = typer.Option(
    "halfnormal:0.5", "--tau-prior",
    help="Prior for tau: halfnormal:S, halfcauchy:S, uniform:A,B, lognormal:M,S (on tau^2) or lognormal-turner:OUTCOME.",
)
JSON = typer.Option(False, "--json", help="Print the result as one JSON object.")


def _emit(result: dict, text: str, as_json: bool) -> None:
    if as_json:
        print_json(jsonable(result))
    else:
        sys.stdout.write(text + "\n")
    flag = result.get("flag")
    if flag:
        err.print(f"[bold red]warning[/]: {flag}", highlight=False)


def _effects(file: Path, yi: str, vi: str | None, sei: str | None, id_column: str):
    from research.bayes import read_effects_csv

    if vi is not None and sei is not None:
        raise InputError("give at most one of --vi and --sei")
    return read_effects_csv(file, yi=yi, vi=vi or ("vi" if sei is None else None), se=sei, id_column=id_column)


def _parse_known(items: list[str] | None) -> dict[str, str]:
    known = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(f"--known {item!r}: use NAME=VALUE")
        known[name.strip()] = value.strip()
    return known


def _parse_unknown(items: list[str] | None) -> dict[str, Any]:
    unknown: dict[str, Any] = {}
    for item in items or []:
        name, sep, rest = item.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise InputError(f"--unknown {item!r}: use NAME=LEVEL:P,LEVEL:P or NAME=uniform")
        if rest.strip().lower() == "uniform":
            unknown[name.strip()] = "uniform"
            continue
        probs = {}
        for part in rest.split(","):
            level, colon, p = part.rpartition(":")
            try:
                probs[level.strip()] = float(p)
            except ValueError as exc:
                raise InputError(f"--unknown {item!r}: {part!r} is not LEVEL:PROBABILITY") from exc
            if not colon or not level.strip():
                raise InputError(f"--unknown {item!r}: {part!r} is not LEVEL:PROBABILITY")
        unknown[name.strip()] = probs
    return unknown


def _fit(frame, method, model, mu_prior, tau_prior, moderators, bias_prior, draws, tune, chains, seed, target_accept, cache_dir, no_cache, progress):
    from research.bayes import DEFAULT_BIAS_CLASSES, exact_meta, exact_meta_regression, mcmc_meta, parse_bias_prior

    if method == "exact":
        if model == "random_effects":
            return exact_meta(frame, mu_prior=mu_prior, tau_prior=tau_prior)
        if model == "meta_regression":
            return exact_meta_regression(frame, moderators or ("setting", "monitoring"), mu_prior=mu_prior, tau_prior=tau_prior)
        raise InputError(f"--method exact covers random_effects and meta_regression; model {model} needs --method mcmc")
    if method != "mcmc":
        raise InputError(f"--method must be exact or mcmc, got {method!r}")
    classes = None
    if bias_prior:
        classes = DEFAULT_BIAS_CLASSES
        for text in bias_prior:
            classes = parse_bias_prior(text, classes)
    # The library owns the default cache folder; the command passes only what the user chose.
    cache = {"cache_dir": None} if no_cache else ({"cache_dir": cache_dir} if cache_dir else {})
    return mcmc_meta(
        frame, model, mu_prior=mu_prior, tau_prior=tau_prior, moderators=moderators or None, bias_classes=classes,
        draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept, progress=progress, **cache,
    )


MODEL = typer.Option("random_effects", "--model", help="random_effects, meta_regression, robust or bias_adjusted.")
MODERATOR = typer.Option(None, "--moderator", help="Moderator column (repeat); default setting and monitoring for meta_regression.")
BIAS_PRIOR = typer.Option(None, "--bias-prior", help="Bias class prior NAME:MEAN,SD[,SPREAD] (repeat): uncontrolled, high_risk_of_bias, regression_to_mean.")
DRAWS = typer.Option(1000, "--draws", help="MCMC draws per chain.")
TUNE = typer.Option(1000, "--tune", help="MCMC tuning steps per chain.")
CHAINS = typer.Option(2, "--chains", help="MCMC chains.")
SEED = typer.Option(0, "--seed", help="Random seed.")
TARGET_ACCEPT = typer.Option(0.9, "--target-accept", help="NUTS target acceptance rate (raise to fight divergences).")
CACHE_DIR = typer.Option(None, "--cache-dir", help="Folder of cached MCMC fits (default .cache/fits).")
NO_CACHE = typer.Option(False, "--no-cache", help="Neither read nor write cached fits.")
PROGRESS = typer.Option(False, "--progress", help="Show sampler progress (for long runs).")


def bayes_meta(
    file: Path = typer.Argument(..., help="CSV with one row per effect estimate."),
    yi: str = YI,
    vi: str = VI,
    sei: str = SEI,
    id_column: str = ID,
    mu_prior: str = MU_PRIOR,
    tau_prior: str = TAU_PRIOR,
    method: str = typer.Option("exact", "--method", help="exact (integration over tau, milliseconds) or mcmc (nutpie)."),
    model: str = MODEL,
    moderator: list[str] = MODERATOR,
    bias_prior: list[str] = BIAS_PRIOR,
    draws: int = DRAWS,
    tune: int = TUNE,
    chains: int = CHAINS,
    seed: int = SEED,
    target_accept: float = TARGET_ACCEPT,
    cache_dir: Path | None = CACHE_DIR,
    no_cache: bool = NO_CACHE,
    progress: bool = PROGRESS,
    as_json: bool = JSON,
    plot: Path = typer.Option(None, "--plot", help="Save the posterior of mu and the predictive distribution to this file."),
    trace: Path = typer.Option(None, "--trace", help="MCMC only: save trace plots to this file."),
) -> None:
    """Bayesian random-effects meta-analysis (or meta-regression, robust, bias-adjusted) of a CSV.

    Effects are on the log scale with positive = more events, so P(mu < 0) is the
    probability of a benefit. MCMC results carry R-hat, ESS and divergences, and a flag
    when they fail; fits are cached by a hash of data, model, priors and settings.
    """
    frame = _effects(file, yi, vi, sei, id_column)
    result = _fit(frame, method, model, mu_prior, tau_prior, moderator, bias_prior, draws, tune, chains, seed, target_accept, cache_dir, no_cache, progress)
    if plot is not None:
        from research.plots.bayes import posterior_plot

        posterior_plot(result, title=str(file.name)).savefig(plot, bbox_inches="tight")
    if trace is not None:
        if method != "mcmc":
            raise InputError("--trace needs --method mcmc")
        from research.plots.bayes import plot_trace

        plot_trace(result).savefig(trace, bbox_inches="tight")
    _emit(result.to_dict(), result.summary(), as_json)


def bayes_sensitivity(
    file: Path = typer.Argument(..., help="CSV with one row per effect estimate."),
    yi: str = YI,
    vi: str = VI,
    sei: str = SEI,
    id_column: str = ID,
    mu_prior: list[str] = typer.Option(None, "--mu-prior", help="Prior for mu (repeat); default normal:0,1 and normal:0,10."),
    tau_prior: list[str] = typer.Option(None, "--tau-prior", help="Prior for tau (repeat); default: half-normal, half-Cauchy, uniform, Turner."),
    as_json: bool = JSON,
) -> None:
    """Prior sensitivity table: the exact analysis under each combination of priors."""
    from research.bayes import prior_sensitivity
    from research.bayes.sensitivity import DEFAULT_MU_PRIORS, DEFAULT_TAU_PRIORS

    frame = _effects(file, yi, vi, sei, id_column)
    table = prior_sensitivity(frame, mu_prior or DEFAULT_MU_PRIORS, tau_prior or DEFAULT_TAU_PRIORS)
    _emit({"rows": table.to_dict(orient="records")}, table.to_string(index=False, float_format=lambda v: f"{v:.4f}"), as_json)


def transport_command(
    file: Path = typer.Argument(..., help="CSV with one row per effect estimate and moderator columns."),
    yi: str = YI,
    vi: str = VI,
    sei: str = SEI,
    id_column: str = ID,
    target: str = typer.Option(None, "--target", help="Name of the target setting, e.g. a city."),
    known: list[str] = typer.Option(None, "--known", help="Known covariate of the target, NAME=VALUE (repeat)."),
    unknown: list[str] = typer.Option(None, "--unknown", help="Unknown covariate with prior level probabilities, NAME=LEVEL:P,LEVEL:P or NAME=uniform (repeat)."),
    threshold: float = typer.Option(0.0, "--threshold", help="Benefit means an effect below this (log scale)."),
    mu_prior: str = MU_PRIOR,
    tau_prior: str = TAU_PRIOR,
    method: str = typer.Option("exact", "--method", help="exact (meta-regression by integration) or mcmc."),
    model: str = typer.Option("meta_regression", "--model", help="MCMC model: meta_regression, bias_adjusted or robust."),
    draws: int = DRAWS,
    tune: int = TUNE,
    chains: int = CHAINS,
    seed: int = SEED,
    cache_dir: Path | None = CACHE_DIR,
    no_cache: bool = NO_CACHE,
    progress: bool = PROGRESS,
    as_json: bool = JSON,
) -> None:
    """Predict the effect at a target setting, integrating unknown covariates over stated priors.

    Moderators of the model are the covariates named in --known and --unknown.
    """
    from research.bayes import transport

    frame = _effects(file, yi, vi, sei, id_column)
    known_values = _parse_known(known)
    unknown_values = _parse_unknown(unknown)
    if method == "exact":
        result = transport(frame, target, unknown_values, threshold, known=known_values, mu_prior=mu_prior, tau_prior=tau_prior)
    else:
        moderators = list(known_values) + [n for n in unknown_values if n not in known_values]
        fit = _fit(frame, "mcmc", model, mu_prior, tau_prior, moderators, None, draws, tune, chains, seed, 0.9, cache_dir, no_cache, progress)
        result = transport(fit, target, unknown_values, threshold, known=known_values)
    _emit(result.to_dict(), result.summary(), as_json)


def voi(
    file: Path = typer.Argument(..., help="CSV with one row per effect estimate."),
    scenarios: Path = typer.Option(..., "--scenarios", help="YAML list of gap scenarios: gap_id, description, kind (target|external), new_vi or new_study_se or counts, n_studies, bias_mean, bias_sd."),
    yi: str = YI,
    vi: str = VI,
    sei: str = SEI,
    id_column: str = ID,
    mu_prior: str = MU_PRIOR,
    tau_prior: str = TAU_PRIOR,
    n_sim: int = typer.Option(400, "--n-sim", help="Preposterior simulations per gap."),
    seed: int = SEED,
    threshold: float = typer.Option(0.0, "--threshold", help="Benefit means an effect below this (log scale)."),
    decision_probability: float = typer.Option(0.9, "--decision-probability", help="Benefit counts as established when P(benefit) reaches this."),
    rank_by: str = typer.Option("narrowing", "--rank-by", help="narrowing, abs_change_p or p_decision_change."),
    as_json: bool = JSON,
) -> None:
    """Rank data gaps by how much filling them would narrow the prediction for the target."""
    from research.bayes import value_of_information
    from research.store.files import ReadError, load_yaml, read_text

    frame = _effects(file, yi, vi, sei, id_column)
    try:
        data = load_yaml(read_text(scenarios))
    except ReadError as exc:
        raise InputError(f"{scenarios}: cannot be read: {exc}") from exc
    if isinstance(data, dict) and "scenarios" in data:
        data = data["scenarios"]
    if not isinstance(data, list):
        raise InputError(f"{scenarios}: expected a list of scenarios")
    result = value_of_information(frame, data, mu_prior=mu_prior, tau_prior=tau_prior, n_sim=n_sim, seed=seed,
                                  threshold=threshold, decision_probability=decision_probability, rank_by=rank_by)
    _emit(result.to_dict(), result.summary(), as_json)


def sbc(
    file: Path = typer.Argument(..., help="CSV with the sampling variances of the studies to simulate."),
    vi: str = VI,
    sei: str = SEI,
    mu_prior: str = MU_PRIOR,
    tau_prior: str = TAU_PRIOR,
    n_replicates: int = typer.Option(200, "--n-replicates", min=1, help="Simulated data sets."),
    method: str = typer.Option("exact", "--method", help="exact or mcmc (each replicate is one MCMC fit)."),
    draws: int = typer.Option(400, "--draws", help="MCMC draws per chain."),
    tune: int = typer.Option(400, "--tune", help="MCMC tuning steps per chain."),
    chains: int = CHAINS,
    bins: int = typer.Option(10, "--bins", min=2, help="Histogram bins for the uniformity check."),
    seed: int = SEED,
    jobs: int = JOBS,
    scheduler: str = SCHEDULER,
    as_json: bool = JSON,
) -> None:
    """Simulation-based calibration: are the posteriors of mu and tau calibrated for studies like these?

    Draws (mu, tau) from the priors, simulates the studies, fits, and tests whether the truth falls
    uniformly in its posterior. Replicates fan out over --jobs or --scheduler with the same result."""
    from research.bayes import simulation_based_calibration
    from research.parallel import Engine

    frame = read_csv(file)
    column = sei or vi or "vi"
    _need(frame, file, column)
    variances = frame[column].to_numpy(dtype=float) ** (2 if sei else 1)
    result = simulation_based_calibration(variances, mu_prior, tau_prior, n_replicates=n_replicates, method=method,
                                          seed=seed, bins=bins, draws=draws, tune=tune, chains=chains,
                                          engine=Engine(jobs=jobs, scheduler=scheduler or None))
    _emit(result.to_dict(), result.summary(), as_json)


def _need(frame, path: Path, *columns: str | None) -> None:
    absent = [c for c in columns if c and c not in frame.columns]
    if absent:
        raise InputError(f"{path}: no column(s) {', '.join(absent)}; columns are {', '.join(map(str, frame.columns))}")


def its(
    file: Path = typer.Argument(..., help="CSV with one row per period."),
    count: str = typer.Option("count", "--count", help="Column with the event counts."),
    date: str = typer.Option("date", "--date", help="Column with the period dates."),
    intervention: str = typer.Option(..., "--intervention", help="First date of the post-intervention period."),
    family: str = typer.Option("quasipoisson", "--family", help="poisson, quasipoisson or negbin."),
    autocorrelation: str = typer.Option(
        "ar1", "--autocorrelation",
        help="ar1 (errors correlated over time, the default), test (ar1 only if a Breusch-Godfrey test rejects), "
             "hac (Newey-West) or none (trust independence; flagged if the test rejects)."),
    season: int = typer.Option(12, "--season", help="Seasonal period in rows (12 for months; 0 for none)."),
    harmonics: int = typer.Option(2, "--harmonics", help="Fourier pairs for the seasonality."),
    exposure: str = typer.Option(None, "--exposure", help="Column with exposure (e.g. days or traffic volume)."),
    no_slope_change: bool = typer.Option(False, "--no-slope-change", help="Only a level change, no change of trend."),
    hac_lags: int = typer.Option(None, "--hac-lags", help="Newey-West standard errors with this many lags."),
    as_json: bool = JSON,
) -> None:
    """Interrupted time series of a place's own counts (segmented count regression, autocorrelated errors)."""
    from research.local import interrupted_time_series

    frame = read_csv(file)
    _need(frame, file, count, date, exposure)
    result = interrupted_time_series(
        frame[count], frame[date], intervention, family=family, season=season or None, harmonics=harmonics,
        exposure=frame[exposure] if exposure else None, slope_change=not no_slope_change, hac_lags=hac_lags,
        autocorrelation="hac" if hac_lags is not None and autocorrelation == "ar1" else autocorrelation,
    )
    _emit(result.to_dict(), result.summary(), as_json)


def did(
    file: Path = typer.Argument(..., help="CSV with one row per unit and period."),
    count: str = typer.Option("count", "--count", help="Column with the event counts."),
    unit: str = typer.Option("unit", "--unit", help="Column with the unit (site, district) label."),
    time: str = typer.Option("time", "--time", help="Column with the period (sortable)."),
    treated: str = typer.Option("treated", "--treated", help="Column marking treated units (1/0, true/false)."),
    post: str = typer.Option("post", "--post", help="Column marking post-intervention periods (1/0, true/false)."),
    exposure: str = typer.Option(None, "--exposure", help="Column with exposure."),
    family: str = typer.Option("poisson", "--family", help="poisson, quasipoisson or negbin."),
    cov: str = typer.Option(
        "cr2", "--cov",
        help="Standard errors clustered by unit: cr2 (default; small-sample correction with Bell-McCaffrey degrees "
             "of freedom), cluster (CR1) or model (not clustered; flagged)."),
    staggered: str = typer.Option(
        "stack", "--staggered",
        help="Units treated at different times: stack (one sub-panel per adoption cohort, never-treated controls) "
             "or refuse."),
    as_json: bool = JSON,
) -> None:
    """Difference in differences for counts with unit and period fixed effects."""
    from research.local import difference_in_differences

    frame = read_csv(file)
    result = difference_in_differences(frame, outcome=count, unit=unit, time=time, treated=treated, post=post,
                                       exposure=exposure, family=family, cov=cov, staggered=staggered)
    _emit(result.to_dict(), result.summary(), as_json)


PANEL = "Bayesian models and local data"


def register(app: typer.Typer) -> None:
    app.command("bayes-meta", rich_help_panel=PANEL)(bayes_meta)
    app.command("bayes-sensitivity", rich_help_panel=PANEL)(bayes_sensitivity)
    app.command("transport", rich_help_panel=PANEL)(transport_command)
    app.command("voi", rich_help_panel=PANEL)(voi)
    app.command("bayes-sbc", rich_help_panel=PANEL)(sbc)
    app.command("its", rich_help_panel=PANEL)(its)
    app.command("did", rich_help_panel=PANEL)(did)
