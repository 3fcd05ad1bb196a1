# Reference results for the example case, computed by R's metafor from the same data set:
# the randomised trials' pooled log odds ratio and the meta-regression on design and setting.
# Writes ../../tests/reference/cbt_recidivism.json. Run from this folder:  Rscript metafor_reference.R
library(metafor)
library(metadat)
library(jsonlite)
d <- dat.landenberger2005
# the store's counts: a, b = recidivists and non-recidivists with CBT; c, d = without
es <- escalc(measure = "OR", ai = n.cbt.rec, bi = n.cbt.non, ci = n.ctrl.rec, di = n.ctrl.non, data = d)
es$design_store <- factor(c(rct = "randomised_experiment", match = "non_randomised_controlled",
                            nonequiv = "non_randomised_controlled")[d$design],
                          levels = c("randomised_experiment", "non_randomised_controlled"))
es$setting <- factor(d$setting, levels = c("community", "prison"))

rct <- rma(yi, vi, data = es, subset = design == "rct", method = "REML", test = "knha")
mods <- rma(yi, vi, mods = ~ design_store + setting, data = es, method = "REML", test = "knha")
coefs <- lapply(seq_along(mods$beta), function(j) list(
  name = rownames(mods$beta)[j], estimate = unname(mods$beta[j, 1]), se = unname(mods$se[j]),
  p = unname(mods$pval[j])))
out <- list(
  dataset = "dat.landenberger2005",
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  randomised = list(k = rct$k, estimate = unname(rct$beta[1, 1]), se = rct$se, ci_low = rct$ci.lb,
                    ci_high = rct$ci.ub, tau2 = rct$tau2, i2 = rct$I2),
  moderators = list(k = mods$k, tau2 = mods$tau2, coefficients = coefs)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "../../tests/reference/cbt_recidivism.json")
