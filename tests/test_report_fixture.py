"""A realistic results dict for the report tests, built from real numbers.

The studies are the speed-camera rows of the FHWA Crash Modification Factors Clearinghouse that
report a CMF and its (unadjusted) standard error (evidence/raw/cmf_clearinghouse_automated_enforcement.csv).
They differ in crash type, so this pooled fit is a rendering fixture, not an analysis anyone
should read; the shipped analyses are declared in analyses/. The statistics are computed here
(statsmodels DerSimonian-Laird, a grid posterior for the normal-normal model), never typed in.

The CCTV analysis cannot be pooled; its reported rows are the review results of the evidence
store (evidence/estimates/cctv-reviews.yaml with evidence/studies/cctv.yaml), read as the
pipeline reads them. The "MCMC fits" are independent draws from the grid posterior, split into
chains, with diagnostics computed by ``research.bayes.mcmc.compute_diagnostics``; the second
fit's chains are made not to mix (one chain stuck near a single value), so it fails them.
"""

from __future__ import annotations

import copy
import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
CMF_FILE = ROOT / "evidence" / "raw" / "cmf_clearinghouse_automated_enforcement.csv"
CCTV_REVIEWS = ROOT / "evidence" / "estimates" / "cctv-reviews.yaml"
CCTV_STUDIES = ROOT / "evidence" / "studies" / "cctv.yaml"
ALMATY_GAPS = ROOT / "evidence" / "gaps" / "almaty.yaml"
AI_GAP = "gap-ai-cctv-evaluation-almaty"
SPEED_CAMERA_IDS = ("2912", "2923", "2194", "8196")


def _cmf_rows() -> list[dict[str, str]]:
    with CMF_FILE.open(encoding="utf-8") as handle:
        rows = {row["cmf_id"]: row for row in csv.DictReader(handle)}
    return [rows[i] for i in SPEED_CAMERA_IDS]


def _studies() -> list[dict]:
    out = []
    for row in _cmf_rows():
        cmf, se = float(row["cmf"]), float(row["cmf_unadj_se"])
        out.append(
            {
                "id": f"cmf-{row['cmf_id']}",
                "label": f"CMF {row['cmf_id']} {row['location']} ({row['crash_type']})",
                "measure": "CMF",
                "yi": math.log(cmf),
                "vi": (se / cmf) ** 2,  # delta method: se(log x) = se(x) / x
                "design": "empirical_bayes_before_after",
                "rob_overall": None,
                "setting": row["notes"],
                "country": row["country"],
            }
        )
    return out


def _frequentist(yi: np.ndarray, vi: np.ndarray) -> dict:
    from statsmodels.stats.meta_analysis import combine_effects

    res = combine_effects(yi, vi, method_re="dl")
    k = len(yi)
    estimate = float(res.mean_effect_re)
    se = float(res.sd_eff_w_re)
    low, high = estimate - 1.959964 * se, estimate + 1.959964 * se
    t = stats.t.ppf(0.975, k - 2)
    half = t * math.sqrt(float(res.tau2) + se**2)
    return {
        "k": k, "estimate": estimate, "se": se, "ci_low": low, "ci_high": high,
        "pi_low": estimate - half, "pi_high": estimate + half, "tau2": float(res.tau2),
        "tau2_ci_low": None, "tau2_ci_high": None, "i2": 100 * float(res.i2), "h2": None,  # percent, as research.meta reports it
        "q": float(res.q), "q_p": float(stats.chi2.sf(res.q, k - 1)),
        "method": "DL", "test": "z", "bias": {"egger": None, "trimfill": None},
    }


def cctv_reported_rows() -> list[dict]:
    """The CCTV review results of the evidence store, in the pipeline's ``reported`` row format,
    plus the study's ``n_units`` (number of evaluations) as the report can show it."""
    estimates = yaml.safe_load(CCTV_REVIEWS.read_text(encoding="utf-8"))
    studies = {s["id"]: s for s in yaml.safe_load(CCTV_STUDIES.read_text(encoding="utf-8"))}
    rows = []
    for e in estimates:
        study = studies[e["study"]]
        rows.append(
            {
                "estimate_id": e["id"], "study": e["study"], "source": e["source"], "label": study["title"],
                "outcome": e["outcome"], "subgroup": e.get("subgroup"),
                "percent_change": float(e["estimate"]) if e["measure"] == "percent_change" else None,
                "significant": e.get("significant"), "provenance": e["provenance"], "measure": e["measure"],
                "n_units": study.get("n_units"), "year": study.get("year"), "design": study.get("design"),
            }
        )
    return rows


def almaty_gap(gap_id: str) -> dict:
    """One gap of the evidence store, as the pipeline's gap register carries it."""
    gap = next(g for g in yaml.safe_load(ALMATY_GAPS.read_text(encoding="utf-8")) if g["id"] == gap_id)
    return {"id": gap["id"], "what": " ".join(gap["what"].split()), "why_it_matters": " ".join(gap["why_it_matters"].split()),
            "who_may_hold": gap["who_may_hold"], "status": gap["status"], "parameter": gap.get("parameter"),
            "related": gap.get("related", []), "voi": None}


def _mcmc_fit(model: str, mu: np.ndarray, tau: np.ndarray) -> dict:
    """An MCMC result dict from draws shaped (chain, draw), diagnostics computed, not typed."""
    import arviz as az

    from research.bayes.mcmc import compute_diagnostics

    idata = az.from_dict(posterior={"mu": mu, "tau": tau},
                         sample_stats={"diverging": np.zeros(mu.shape, dtype=bool)})
    diagnostics = compute_diagnostics(idata)

    def summary(x: np.ndarray) -> dict:
        flat = x.ravel()
        return {"mean": float(flat.mean()), "sd": float(flat.std()), "median": float(np.median(flat)),
                "q025": float(np.quantile(flat, 0.025)), "q975": float(np.quantile(flat, 0.975))}

    return {
        "method": "mcmc", "model": model, "mu": summary(mu), "tau": summary(tau),
        "p_mu_below_0": float((mu < 0).mean()),
        "mcse": {"mu_mean": float(az.mcse(idata, var_names=["mu"], method="mean")["mu"])},
        "diagnostics": diagnostics.to_dict(), "flag": diagnostics.flag,
    }


def _trace_svg(mu: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 1.8))
    for chain in mu:
        ax.plot(chain, lw=0.6)
    ax.set_ylabel("mu")
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _grid_posterior(yi: np.ndarray, vi: np.ndarray) -> dict:
    """Normal-normal random-effects posterior on a grid: mu ~ N(0, 1), tau ~ HalfNormal(0.5)."""
    mu = np.linspace(-3, 3, 1201)
    tau = np.linspace(0, 2.5, 501)
    m, t = np.meshgrid(mu, tau, indexing="ij")
    log_post = stats.norm.logpdf(m, 0, 1) + stats.halfnorm.logpdf(t, scale=0.5)
    for y, v in zip(yi, vi):
        log_post += stats.norm.logpdf(y, m, np.sqrt(v + t**2))
    post = np.exp(log_post - log_post.max())
    post /= post.sum()
    p_mu, p_tau = post.sum(axis=1), post.sum(axis=0)

    def summary(grid: np.ndarray, p: np.ndarray) -> dict:
        cdf = np.cumsum(p)
        mean = float((grid * p).sum())
        sd = float(math.sqrt(((grid - mean) ** 2 * p).sum()))
        return {"mean": mean, "sd": sd, "q025": float(np.interp(0.025, cdf, grid)),
                "q975": float(np.interp(0.975, cdf, grid))}

    p_new_below_zero = float((post * stats.norm.cdf(0, m, np.maximum(t, 1e-9))).sum())
    rng = np.random.default_rng(20261125)
    flat = rng.choice(post.size, size=20000, p=post.ravel())
    theta_new = rng.normal(m.ravel()[flat], t.ravel()[flat])
    _DRAWS["mu"], _DRAWS["tau"] = m.ravel()[flat], t.ravel()[flat]
    return {
        "mu": summary(mu, p_mu), "tau": summary(tau, p_tau),
        "predictive": {"mean": float(theta_new.mean()), "q025": float(np.quantile(theta_new, 0.025)),
                       "q975": float(np.quantile(theta_new, 0.975))},
        "p_benefit": float(p_mu[mu < 0].sum()), "p_pred_benefit": p_new_below_zero,
        "priors": {"mu": "normal:0,1", "tau": "halfnormal:0.5"}, "method": "exact", "diagnostics": None,
    }


def _forest_svg(studies: list[dict], freq: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.4))
    for i, s in enumerate(studies):
        se = math.sqrt(s["vi"])
        ax.errorbar(s["yi"], -i, xerr=1.96 * se, fmt="s", color="black")
    ax.errorbar(freq["estimate"], -len(studies), xerr=[[freq["estimate"] - freq["ci_low"]],
                [freq["ci_high"] - freq["estimate"]]], fmt="D", color="tab:blue")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks([-i for i in range(len(studies) + 1)], [s["label"] for s in studies] + ["Pooled"])
    ax.set_xlabel("log CMF")
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


_CACHE: dict[str, dict] = {}
_DRAWS: dict[str, np.ndarray] = {}


def realistic_results() -> dict:
    """A fresh deep copy of the fixture (tests may mutate it)."""
    if "results" not in _CACHE:
        _CACHE["results"] = _build()
    return copy.deepcopy(_CACHE["results"])


def _build() -> dict:
    studies = _studies()
    yi = np.array([s["yi"] for s in studies])
    vi = np.array([s["vi"] for s in studies])
    freq = _frequentist(yi, vi)
    bayes = _grid_posterior(yi, vi)
    # two chains of 500 posterior draws each: they mix, so diagnostics pass
    mu_draws, tau_draws = _DRAWS["mu"][:1000].reshape(2, 500), _DRAWS["tau"][:1000].reshape(2, 500)
    # the same draws with chain 2 stuck at its first value: R-hat and ESS fail
    stuck_mu, stuck_tau = mu_draws.copy(), tau_draws.copy()
    stuck_mu[1], stuck_tau[1] = mu_draws[1, 0] + 1e-3 * np.arange(500) / 500, tau_draws[1, 0]
    mcmc = [
        _mcmc_fit("random_effects", mu_draws, tau_draws),
        _mcmc_fit("robust", stuck_mu, stuck_tau),
    ]
    speed = {
        "id": "speed-cameras-crashes-fixture",
        "title": "Speed cameras and crashes (test fixture)",
        "question": "Do automated speed cameras reduce crashes?",
        "intervention": "automated speed cameras",
        "outcome": "crashes",
        "target": "target-fixture",
        "k": len(studies),
        "status": "ok",
        "gaps": ["gap-welsh-farrington-2008-study-table"],
        "inputs": [s["id"] for s in studies],
        "studies": studies,
        "frequentist": freq,
        "bayes": bayes,
        "transport": None,
        "reported": [
            {"estimate_id": "hoye-2014-total", "source": "Høye (2014) AAP 73", "outcome": "total crashes",
             "subgroup": None, "percent_change": -20.0, "significant": None, "provenance": "primary"},
        ],
        "figures": {"forest": _forest_svg(studies, freq), "trace_random_effects": _trace_svg(mu_draws),
                    "trace_robust": _trace_svg(stuck_mu)},
        "mcmc": mcmc,
    }
    cctv = {
        "id": "cctv-crime", "title": "Public-area CCTV and crime", "question": "Does CCTV reduce crime?",
        "intervention": "CCTV", "outcome": "crimes", "target": "target-fixture", "k": 0, "status": "insufficient_data",
        "gaps": ["gap-welsh-farrington-2008-study-table", "gap-piza-2019-study-table"], "inputs": [],
        "studies": [], "frequentist": None, "bayes": None, "transport": None,
        "reported": cctv_reported_rows(),
        "status_reason": "0 estimate(s) with a usable uncertainty; at least 3 are needed to pool",
        "figures": {},
        "mcmc": [],
    }
    claims = [
        {
            "claim_id": "claim-fines-total",
            "text": "recording around 360,000 violations totaling 2.3 billion tenge so far",
            "label": "not_enough_evidence", "fever_label": "NOT ENOUGH INFO", "confidence": 0.7,
            "rationale": "The Almaty.tv report was not found; the implied average fine is below the lowest camera fine.",
            "arithmetic": [{"step": "average fine", "formula": "2.3e9 / 360000", "result": f"{2.3e9 / 360000:,.0f} tenge"}],
            "assumptions": ["the total is fines imposed, not collected"],
            "evidence": ["fact-mrp-2020"], "analyses": [], "gaps": ["gap-almaty-tv-report"],
        },
        {
            "claim_id": "claim-cctv-proven",
            "text": "CCTV systems, coupled with modern technologies like computer vision and AI, have proven effective",
            "label": "partly_supported", "fever_label": "SUPPORTS", "confidence": 0.6,
            "rationale": "Meta-analyses report a modest average decrease, concentrated in car parks.",
            "arithmetic": [], "assumptions": [], "evidence": ["wf-2009-overall"], "analyses": ["cctv-crime"],
            "gaps": [],
        },
        {
            "claim_id": "claim-opinions",
            "text": "some find it comforting, while others see it as intrusive",
            "label": "opinion", "fever_label": None, "confidence": None, "rationale": "Residents' views.",
            "arithmetic": [], "assumptions": [], "evidence": [], "analyses": [], "gaps": [],
        },
    ]
    gaps = [
        {"id": "gap-welsh-farrington-2008-study-table",
         "what": "Per-study table of Welsh & Farrington (2008 Campbell review)",
         "why_it_matters": "Needed to pool CCTV evaluations with their uncertainty",
         "who_may_hold": "Campbell Collaboration (CC BY)", "status": "open", "parameter": "mu",
         "rank": 1, "voi": None},
        {"id": "gap-piza-2019-study-table", "what": "Per-study table of Piza et al. (2019)",
         "why_it_matters": "76 CCTV evaluations with effect sizes",
         "who_may_hold": "Criminology & Public Policy; the authors", "status": "open", "parameter": None,
         "rank": 2, "voi": None},
        {"id": "gap-almaty-tv-report", "what": "The Almaty.tv report of 360,000 violations",
         "why_it_matters": "The only source named for the article's fine totals",
         "who_may_hold": "Almaty TV channel", "status": "open", "parameter": None, "rank": 3, "voi": None},
    ]
    return {
        "generated_at": "2026-11-25",
        "evidence_fingerprint": "0" * 64,
        "store": {
            "counts": {"sources": 40, "claims": 10, "facts": 30, "studies": len(studies), "estimates": 5,
                       "risk_of_bias": 0, "gaps": len(gaps)},
            "flow": {"sources": 40, "studies": len(studies), "studies_with_estimates": len(studies),
                     "estimates": 5, "estimates_with_uncertainty": 4, "estimates_without_uncertainty": 1,
                     "estimates_pooled": 4},
        },
        "analyses": [speed, cctv],
        "claims": claims,
        "gaps": gaps,
        "risk_of_bias": [],
        "targets": [FIXTURE_TARGET],
    }


# Test data: a target record like the first case's, as the pipeline passes it on (generation year resolved).
FIXTURE_TARGET = {
    "id": "target-fixture", "name": "Almaty", "country": "Kazakhstan", "setting_type": "city",
    "setting_plural": "cities", "setting_terms": ["urban", "city", "town"], "topic": "cameras and public safety",
    "intervention": "AI-enabled automated camera enforcement, in operation since 2017 (test data)",
    "generation_fact": None, "generation_since": 2017,
}


def test_fixture_uses_the_shipped_cmf_numbers():
    rows = _cmf_rows()
    studies = realistic_results()["analyses"][0]["studies"]
    assert [s["yi"] for s in studies] == pytest.approx([math.log(float(r["cmf"])) for r in rows])


def test_fixture_grid_posterior_agrees_with_frequentist_direction():
    a = realistic_results()["analyses"][0]
    # both fits see the same four CMFs below 1, so both place the average effect below zero
    assert a["frequentist"]["estimate"] < 0
    assert a["bayes"]["mu"]["mean"] < 0
    assert 0.5 < a["bayes"]["p_benefit"] <= 1.0
