"""Decision thresholds in one place: the pass marks and cut-offs that turn numbers into judgements.

Each is a plain constant with its source; the modules that judge import them from here, and the
results record the ones a judgement used (``research.results.McmcThresholds``).
"""

# MCMC pass marks (Vehtari et al. 2021, Bayesian Analysis 16:667): R-hat at most 1.01, bulk and
# tail effective sample size at least 100 per chain, and no divergent transitions.
RHAT_MAX = 1.01
ESS_PER_CHAIN = 100.0
MAX_DIVERGENCES = 0

# Value of information: "benefit established" when the posterior probability of benefit reaches this.
VOI_DECISION_PROBABILITY = 0.9

# Sensitivity analyses: a pool of one is a single study, not a sensitivity analysis.
MIN_K_SENSITIVITY = 2

__all__ = ["ESS_PER_CHAIN", "MAX_DIVERGENCES", "MIN_K_SENSITIVITY", "RHAT_MAX", "VOI_DECISION_PROBABILITY"]
