"""Bayesian meta-analysis: exact random-effects posterior, MCMC models, transport to a
target setting, value of information of data gaps, prior sensitivity and calibration.

Data: a DataFrame with one row per effect estimate (``id``, ``yi``, ``vi`` on the log
scale, positive = more events, so benefit is ``yi < 0``) and optional moderators.

>>> fit = exact_meta(frame, mu_prior="normal:0,1", tau_prior="halfnormal:0.5")
>>> print(fit.summary()); fit.p_mu_below(0)
>>> res = mcmc_meta(frame, model="meta_regression", draws=1000, chains=2)
>>> transport(res, target={"setting": "road"}, unknown={"monitoring": {"active": 0.5, "passive": 0.5}})
"""

from research.bayes.exact import ExactPosterior, exact_meta
from research.bayes.frame import check_effects, read_effects_csv
from research.bayes.mcmc import DiagnosticThresholds, Diagnostics, McmcResult, mcmc_meta
from research.bayes.mixture import Marginal
from research.bayes.models import DEFAULT_BIAS_CLASSES, MODEL_NAMES, BiasClass, MetaPriors, parse_bias_prior
from research.bayes.priors import (
    TURNER_PRESETS,
    PriorBasis,
    FlatPrior,
    HalfCauchyPrior,
    HalfNormalPrior,
    LogNormalTau2Prior,
    NormalPrior,
    UniformPrior,
    parse_prior,
    prior_basis,
    turner_prior,
)
from research.bayes.regression import ExactRegressionPosterior, exact_meta_regression
from research.bayes.sbc import SbcResult, simulation_based_calibration
from research.bayes.sensitivity import PriorSensitivity, prior_sensitivity, prior_sensitivity_report
from research.bayes.transport import TransportResult, TransportSensitivity, transport, transport_sensitivity
from research.bayes.voi import Decision, GapScenario, VoiResult, VoiSensitivity, value_of_information, voi_sensitivity

__all__ = [
    "BiasClass",
    "Decision",
    "PriorBasis",
    "PriorSensitivity",
    "TransportSensitivity",
    "VoiSensitivity",
    "prior_basis",
    "prior_sensitivity_report",
    "transport_sensitivity",
    "voi_sensitivity",
    "DEFAULT_BIAS_CLASSES",
    "DiagnosticThresholds",
    "Diagnostics",
    "ExactPosterior",
    "ExactRegressionPosterior",
    "FlatPrior",
    "GapScenario",
    "HalfCauchyPrior",
    "HalfNormalPrior",
    "LogNormalTau2Prior",
    "MODEL_NAMES",
    "Marginal",
    "McmcResult",
    "MetaPriors",
    "NormalPrior",
    "SbcResult",
    "TURNER_PRESETS",
    "TransportResult",
    "UniformPrior",
    "VoiResult",
    "check_effects",
    "exact_meta",
    "exact_meta_regression",
    "mcmc_meta",
    "parse_bias_prior",
    "parse_prior",
    "prior_sensitivity",
    "read_effects_csv",
    "simulation_based_calibration",
    "transport",
    "turner_prior",
    "value_of_information",
]
