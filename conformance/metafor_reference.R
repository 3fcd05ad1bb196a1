#!/usr/bin/env Rscript
# Reference values from R's metafor 3.8 for the conformance tests of research.effects and
# research.meta. Writes JSON files and the data sets they were computed from (CSV), so that the
# tests run without R:
#
#   Rscript conformance/metafor_reference.R tests/reference      (or: make conformance)
#
# Needs metafor (>= 3.8) with metadat and jsonlite (Debian: r-cran-metafor, r-cran-metadat,
# r-cran-jsonlite). Numbers are written with 15 significant digits.
#
# Field names follow the Python side (research.meta.conformance): estimate, se, statistic, p,
# ci_low, ci_high, pi_low, pi_high, tau2, tau2_ci_low, tau2_ci_high, i2, h2, q, q_p, ...

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args) >= 1) args[1] else "tests/reference"
data_dir <- file.path(out_dir, "data")
dir.create(data_dir, recursive = TRUE, showWarnings = FALSE)
if (packageVersion("metafor") < "3.8") stop("metafor >= 3.8 is required")

METHODS <- c("REML", "ML", "DL", "PM", "HE", "SJ", "EB")
TESTS <- c(z = "z", hksj = "knha")

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else unname(as.numeric(x))

write_json_file <- function(x, name) {
  path <- file.path(out_dir, name)
  writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = TRUE), path)
  cat("wrote", path, "\n")
}

write_data <- function(d, name) {
  write.csv(d, file.path(data_dir, name), row.names = FALSE)
  file.path("data", name)
}

# --------------------------------------------------------------------------- model summaries

fit_view <- function(r) {
  int_only <- r$int.only
  pred <- if (int_only) predict(r) else predict(r, newmods = rbind(rep(0, r$p - 1)))
  has_tau2 <- !(r$method %in% c("FE", "EE", "CE"))
  tau2_ci <- c(NA_real_, NA_real_)
  if (has_tau2) {
    ci <- confint(r)
    tau2_ci <- ci$random[1, 2:3]
    # beyond metafor's search range the bound is a censored value, not an estimate
    if (ci$lb.sign == ">") tau2_ci[1] <- NA_real_
    if (ci$ub.sign == ">") tau2_ci[2] <- NA_real_
  }
  v <- list(
    k = r$k, estimate = num(r$beta[1]), se = num(r$se[1]),
    ci_low = num(r$ci.lb[1]), ci_high = num(r$ci.ub[1]),
    pi_low = num(pred$pi.lb), pi_high = num(pred$pi.ub),
    tau2 = num(r$tau2), tau2_ci_low = num(tau2_ci[1]), tau2_ci_high = num(tau2_ci[2]),
    i2 = num(r$I2), h2 = num(r$H2), q = num(r$QE), q_p = num(r$QEp), q_df = r$k - r$p,
    statistic = num(r$zval[1]), p = num(r$pval[1]), se_tau2 = num(r$se.tau2)
  )
  if (!int_only) {
    v$coefficients <- lapply(seq_len(r$p), function(j) list(
      name = if (j == 1) "intercept" else rownames(r$beta)[j],
      estimate = num(r$beta[j]), se = num(r$se[j]), statistic = num(r$zval[j]), p = num(r$pval[j]),
      ci_low = num(r$ci.lb[j]), ci_high = num(r$ci.ub[j])))
    v$qm <- num(r$QM)
    v$qm_p <- num(r$QMp)
    v$r2 <- num(r$R2)
  }
  v
}

table_view <- function(x, columns) {
  d <- as.data.frame(x)
  out <- list()
  for (nm in names(columns)) out[[columns[[nm]]]] <- num(d[[nm]])
  out
}

SUMMARY_COLUMNS <- c(estimate = "estimate", se = "se", zval = "statistic", tval = "statistic",
                     pval = "p", pvals = "p", ci.lb = "ci_low", ci.ub = "ci_high", Q = "q", Qp = "q_p",
                     tau2 = "tau2", I2 = "i2", H2 = "h2")

summary_table <- function(x) {
  d <- as.data.frame(x)
  cols <- SUMMARY_COLUMNS[names(SUMMARY_COLUMNS) %in% names(d)]
  table_view(d, as.list(cols))
}

influence_view <- function(r) {
  inf <- influence(r)
  out <- table_view(inf$inf, list(rstudent = "rstudent", dffits = "dffits", cook.d = "cook_d",
                                  cov.r = "cov_r", tau2.del = "tau2_del", QE.del = "q_del",
                                  hat = "hat", weight = "weight"))
  dfbs <- as.data.frame(inf$dfbs)
  coef_names <- c("intercept", rownames(r$beta)[-1])
  for (j in seq_len(ncol(dfbs))) out[[paste0("dfbetas_", coef_names[j])]] <- num(dfbs[[j]])
  out$influential <- as.logical(inf$is.infl)
  out
}

regtest_view <- function(t, lm_model = FALSE) {
  v <- list(z = num(t$zval), p = num(t$pval), limit_estimate = num(t$est),
            ci_low = num(t$ci.lb), ci_high = num(t$ci.ub))
  v$limit_se <- if (lm_model) num(coef(summary(t$fit))[1, 2]) else num(t$fit$se[1])
  v
}

selmodel_view <- function(s) {
  list(estimate = num(s$beta[1]), se = num(s$se[1]), ci_low = num(s$ci.lb[1]), ci_high = num(s$ci.ub[1]),
       tau2 = num(s$tau2), se_tau2 = num(s$se.tau2), delta = num(s$delta), se_delta = num(s$se.delta),
       ll = num(s$ll), lrt = num(s$LRT), lrt_p = num(s$LRTp), k_per_interval = as.integer(s$ptable$k))
}

trimfill_view <- function(r, estimator) {
  tf <- trimfill(r, estimator = estimator)
  list(k0 = tf$k0, side = tf$side, se_k0 = num(tf$se.k0), p_k0 = num(tf$p.k0), estimate = num(tf$beta[1]),
       se = num(tf$se[1]), ci_low = num(tf$ci.lb[1]), ci_high = num(tf$ci.ub[1]), tau2 = num(tf$tau2))
}

bias_view <- function(r, alternative) {
  v <- list(
    egger = regtest_view(regtest(r)),
    trimfill = trimfill_view(r, "L0"),
    trimfill_r0 = trimfill_view(r, "R0"),
    trimfill_q0 = trimfill_view(r, "Q0"),
    pet_peese = list(pet = regtest_view(regtest(r, model = "lm", predictor = "sei"), lm_model = TRUE),
                     peese = regtest_view(regtest(r, model = "lm", predictor = "vi"), lm_model = TRUE))
  )
  if (!is.null(alternative)) {
    # metafor's default optimiser (BFGS on numerical gradients) stops about 1e-6 short of the
    # maximum; Nelder-Mead run to machine precision gives the maximum-likelihood estimate itself,
    # which is what the Python engine is compared with. The default fit is kept for a coarse check.
    tight <- NULL
    for (reltol in c(1e-16, 1e-14, 1e-12)) {  # a degenerate simplex at one tolerance: try the next
      tight <- tryCatch(selmodel(r, type = "stepfun", steps = 0.025, alternative = alternative,
                                 control = list(optimizer = "Nelder-Mead", reltol = reltol, maxit = 100000)),
                        error = function(e) NULL)
      if (!is.null(tight)) break
    }
    if (is.null(tight)) stop("selection model: no precise maximum found")
    default <- selmodel(r, type = "stepfun", steps = 0.025, alternative = alternative)
    v$selmodel <- c(list(alternative = alternative, steps = c(0.025, 1)), selmodel_view(tight))
    v$selmodel_default <- c(list(alternative = alternative, steps = c(0.025, 1)), selmodel_view(default))
  }
  v
}

# --------------------------------------------------------------------------- one data set

reference_set <- function(name, d, description, mods_sets = list(), diagnostics = list(),
                          bias = NULL, subgroup = NULL, label = NULL) {
  d$label <- if (is.null(label)) paste("study", seq_len(nrow(d))) else as.character(label)
  data_file <- write_data(d, paste0(name, ".csv"))
  fits <- list()
  add_fit <- function(method, test, mods) {
    f <- if (length(mods)) as.formula(paste("~", paste(mods, collapse = " + "))) else NULL
    r <- if (is.null(f)) rma(yi, vi, data = d, method = method, test = TESTS[[test]])
         else rma(yi, vi, mods = f, data = d, method = method, test = TESTS[[test]])
    fits[[length(fits) + 1]] <<- list(method = method, test = test, mods = I(mods), expected = fit_view(r))
  }
  for (test in names(TESTS)) {
    for (method in METHODS) add_fit(method, test, character(0))
    add_fit("EE", test, character(0))
  }
  for (spec in mods_sets) for (test in spec$tests) for (method in spec$methods) add_fit(method, test, spec$mods)

  diag_out <- lapply(diagnostics, function(spec) {
    mods <- if (is.null(spec$mods)) character(0) else spec$mods
    f <- if (length(mods)) as.formula(paste("~", paste(mods, collapse = " + "))) else NULL
    r <- if (is.null(f)) rma(yi, vi, data = d, method = spec$method, test = TESTS[[spec$test]])
         else rma(yi, vi, mods = f, data = d, method = spec$method, test = TESTS[[spec$test]])
    v <- list(method = spec$method, test = spec$test, mods = I(mods), influence = influence_view(r))
    if (!length(mods)) {
      v$leave1out <- summary_table(leave1out(r))
      v$cumul <- summary_table(cumul(r))
    }
    v
  })

  bias_out <- NULL
  if (!is.null(bias)) {
    r <- rma(yi, vi, data = d, method = bias$method, test = TESTS[[bias$test]])
    bias_out <- c(list(method = bias$method, test = bias$test), bias_view(r, bias$alternative))
  }

  subgroup_out <- NULL
  if (!is.null(subgroup)) {
    g <- factor(d[[subgroup$column]], levels = unique(d[[subgroup$column]]))
    per_group <- lapply(levels(g), function(lv) {
      r <- rma(yi, vi, data = d, subset = g == lv, method = subgroup$method, test = TESTS[[subgroup$test]])
      fit_view(r)
    })
    names(per_group) <- levels(g)
    est <- sapply(levels(g), function(lv) per_group[[lv]]$estimate)
    se <- sapply(levels(g), function(lv) per_group[[lv]]$se)
    between <- rma(est, sei = se, mods = ~ factor(levels(g), levels = levels(g)), method = "FE")
    mixed <- rma(yi, vi, mods = ~ g, data = d, method = subgroup$method, test = TESTS[[subgroup$test]])
    subgroup_out <- list(column = subgroup$column, method = subgroup$method, test = subgroup$test,
                         expected = list(groups = per_group, q_between = num(between$QM),
                                         df_between = length(levels(g)) - 1, p_between = num(between$QMp),
                                         mixed_qm = num(mixed$QM), mixed_qm_p = num(mixed$QMp),
                                         mixed_tau2 = num(mixed$tau2)))
  }

  write_json_file(list(dataset = name, description = description, data = data_file,
                       metafor_version = as.character(packageVersion("metafor")),
                       fits = fits, diagnostics = diag_out, bias = bias_out, subgroup = subgroup_out),
                  paste0(name, ".json"))
}

ALL_METHODS <- list(methods = METHODS, tests = names(TESTS))

# --------------------------------------------------------------------------- data sets

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
reference_set(
  "bcg", as.data.frame(bcg),
  "BCG vaccine trials (metadat::dat.bcg); log risk ratios from escalc(measure = 'RR')",
  mods_sets = list(c(ALL_METHODS, list(mods = "ablat")),
                   list(methods = c("REML", "DL"), tests = names(TESTS), mods = c("ablat", "year"))),
  diagnostics = list(list(method = "REML", test = "z"), list(method = "REML", test = "hksj"),
                     list(method = "DL", test = "z"),
                     list(method = "REML", test = "z", mods = "ablat"),
                     list(method = "REML", test = "hksj", mods = "ablat")),
  bias = list(method = "REML", test = "z", alternative = "less"),
  subgroup = list(column = "alloc", method = "REML", test = "z"),
  label = paste(dat.bcg$author, dat.bcg$year)
)

hack <- dat.hackshaw1998
reference_set(
  "hackshaw1998", hack,
  "Passive smoking and lung cancer (metadat::dat.hackshaw1998); log odds ratios as published",
  mods_sets = list(list(methods = c("REML", "ML", "DL"), tests = names(TESTS), mods = "year")),
  diagnostics = list(list(method = "REML", test = "z"), list(method = "PM", test = "hksj")),
  bias = list(method = "REML", test = "z", alternative = "greater"),
  subgroup = list(column = "design", method = "DL", test = "z"),
  label = paste(hack$author, hack$year)
)

norm <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
               data = dat.normand1999)
reference_set(
  "normand1999", as.data.frame(norm),
  "Length of hospital stay, specialist vs routine care (metadat::dat.normand1999); mean differences",
  diagnostics = list(list(method = "REML", test = "hksj")),
  bias = list(method = "REML", test = "z", alternative = NULL),
  label = dat.normand1999$source
)

raud <- dat.raudenbush1985
reference_set(
  "raudenbush1985", raud,
  "Teacher expectancy and IQ (metadat::dat.raudenbush1985); standardised mean differences as published",
  mods_sets = list(c(ALL_METHODS, list(mods = "weeks"))),
  diagnostics = list(list(method = "REML", test = "z"), list(method = "REML", test = "z", mods = "weeks")),
  bias = list(method = "REML", test = "z", alternative = "greater"),
  label = paste(raud$author, raud$year)
)

mol <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
reference_set(
  "molloy2014", as.data.frame(mol),
  "Conscientiousness and medication adherence (metadat::dat.molloy2014); Fisher z correlations",
  mods_sets = list(list(methods = c("REML", "PM", "SJ"), tests = names(TESTS), mods = c("meanage", "quality"))),
  diagnostics = list(list(method = "PM", test = "hksj")),
  bias = list(method = "REML", test = "hksj", alternative = "greater"),
  label = paste(dat.molloy2014$authors, dat.molloy2014$year)
)

kon <- dat.konstantopoulos2011
reference_set(
  "konstantopoulos2011", kon,
  "Modified school calendars and achievement (metadat::dat.konstantopoulos2011); standardised mean differences",
  mods_sets = list(list(methods = c("REML", "ML", "DL", "EB"), tests = names(TESTS), mods = "year")),
  diagnostics = list(list(method = "REML", test = "z")),
  bias = list(method = "REML", test = "z", alternative = "greater"),
  label = paste("district", kon$district, "school", kon$school)
)

li <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
reference_set(
  "li2007", as.data.frame(li),
  "Magnesium and mortality after myocardial infarction (metadat::dat.li2007); log odds ratios, zero cells get 1/2",
  label = paste(dat.li2007$study, dat.li2007$year)
)

# --------------------------------------------------------------------------- effect sizes

escalc_case <- function(dataset, measure, arg_cols, d, options = list()) {
  call_args <- c(list(measure = measure), lapply(arg_cols, function(col) d[[col]]), options)
  es <- do.call(escalc, call_args)
  no_options <- structure(list(), names = character(0))  # written as {} rather than []
  list(dataset = dataset, measure = measure, args = arg_cols,
       options = if (length(options)) options else no_options,
       yi = num(es$yi), vi = num(es$vi))
}

two_by_two <- list(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg")
li_cells <- list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i")
means <- list(m1i = "m1i", m2i = "m2i", sd1i = "sd1i", sd2i = "sd2i", n1i = "n1i", n2i = "n2i")
hart <- dat.hart1999
pritz <- dat.pritz1997
raw_files <- list(
  bcg = write_data(dat.bcg, "raw_bcg.csv"),
  li2007 = write_data(dat.li2007, "raw_li2007.csv"),
  normand1999 = write_data(dat.normand1999, "raw_normand1999.csv"),
  molloy2014 = write_data(dat.molloy2014, "raw_molloy2014.csv"),
  hart1999 = write_data(hart, "raw_hart1999.csv"),
  pritz1997 = write_data(pritz, "raw_pritz1997.csv")
)
cases <- list(
  escalc_case("bcg", "RR", two_by_two, dat.bcg),
  escalc_case("bcg", "OR", two_by_two, dat.bcg),
  escalc_case("bcg", "RD", two_by_two, dat.bcg),
  escalc_case("bcg", "RD", two_by_two, dat.bcg, list(vtype = "UB")),
  escalc_case("bcg", "AS", two_by_two, dat.bcg),
  escalc_case("bcg", "PETO", two_by_two, dat.bcg),
  escalc_case("li2007", "OR", li_cells, dat.li2007),
  escalc_case("li2007", "RR", li_cells, dat.li2007),
  escalc_case("li2007", "RD", li_cells, dat.li2007),
  escalc_case("li2007", "PETO", li_cells, dat.li2007),
  escalc_case("li2007", "OR", li_cells, dat.li2007, list(to = "all")),
  escalc_case("li2007", "OR", li_cells, dat.li2007, list(to = "if0all", add = 0.25)),
  escalc_case("li2007", "RR", li_cells, dat.li2007, list(drop00 = TRUE)),
  escalc_case("normand1999", "MD", means, dat.normand1999),
  escalc_case("normand1999", "MD", means, dat.normand1999, list(vtype = "HO")),
  escalc_case("normand1999", "SMD", means, dat.normand1999),
  escalc_case("normand1999", "SMD", means, dat.normand1999, list(vtype = "UB")),
  escalc_case("normand1999", "ROM", means, dat.normand1999),
  escalc_case("molloy2014", "ZCOR", list(ri = "ri", ni = "ni"), dat.molloy2014),
  escalc_case("molloy2014", "COR", list(ri = "ri", ni = "ni"), dat.molloy2014),
  escalc_case("hart1999", "IRR", list(x1i = "x1i", x2i = "x2i", t1i = "t1i", t2i = "t2i"), hart),
  escalc_case("hart1999", "IRD", list(x1i = "x1i", x2i = "x2i", t1i = "t1i", t2i = "t2i"), hart),
  escalc_case("pritz1997", "PR", list(xi = "xi", ni = "ni"), pritz),
  escalc_case("pritz1997", "PLN", list(xi = "xi", ni = "ni"), pritz),
  escalc_case("pritz1997", "PLO", list(xi = "xi", ni = "ni"), pritz)
)
# the relative effect size of area-based evaluations is escalc's log odds ratio of the four
# before/after counts, its variance inflated by the over-dispersion factor
res_case <- function(dataset, d, cells, overdispersion) {
  es <- escalc(measure = "OR", ai = d[[cells$a]], bi = d[[cells$b]], ci = d[[cells$c]], di = d[[cells$d]])
  list(dataset = dataset, cells = cells, overdispersion = overdispersion,
       yi = num(es$yi), vi = num(es$vi) * overdispersion)
}
relative <- list(
  res_case("bcg", dat.bcg, list(a = "tpos", b = "tneg", c = "cpos", d = "cneg"), 1),
  res_case("bcg", dat.bcg, list(a = "tpos", b = "tneg", c = "cpos", d = "cneg"), 2.5),
  res_case("li2007", transform(dat.li2007, bi = n1i - ai, di = n2i - ci), list(a = "ai", b = "bi", c = "ci", d = "di"), 1)
)
li_raw <- transform(dat.li2007, bi = n1i - ai, di = n2i - ci)
raw_files$li2007 <- write_data(li_raw, "raw_li2007.csv")
# dat.hackshaw1998 publishes odds ratios with 95% CIs next to the log odds ratios and variances
# derived from them: the reference for converting a reported estimate and CI
from_ci <- list(dataset = "hackshaw1998", estimate = "or", ci_low = "or.lb", ci_high = "or.ub",
                level = 0.95, yi = num(hack$yi), vi = num(hack$vi))
# the project's own measures, written in the layout of the escalc cases: RES is escalc's log odds
# ratio of the four before/after counts with its variance times the over-dispersion factor; a
# reported ratio with its CI or SE is checked against metadat's published conversion of hackshaw1998
project_case <- function(dataset, measure, arg_cols, options, yi, vi) {
  no_options <- structure(list(), names = character(0))
  list(dataset = dataset, measure = measure, args = arg_cols,
       options = if (length(options)) options else no_options, yi = num(yi), vi = num(vi))
}
bcg_or <- escalc(measure = "OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
li_or <- escalc(measure = "OR", ai = ai, bi = bi, ci = ci, di = di, data = li_raw)
hack_raw <- transform(hack, se_log = sqrt(vi), se_natural = or * sqrt(vi))
raw_files$hackshaw1998 <- write_data(hack_raw, "raw_hackshaw1998.csv")
cases <- c(cases, list(
  project_case("bcg", "RES", two_by_two, list(), bcg_or$yi, bcg_or$vi),
  project_case("bcg", "RES", two_by_two, list(overdispersion = 2.5), bcg_or$yi, bcg_or$vi * 2.5),
  project_case("li2007", "RES", list(ai = "ai", bi = "bi", ci = "ci", di = "di"), list(), li_or$yi, li_or$vi),
  project_case("hackshaw1998", "RATIO-CI", list(estimate = "or", ci_low = "or.lb", ci_high = "or.ub"), list(),
               hack$yi, hack$vi),
  project_case("hackshaw1998", "RATIO-SE", list(estimate = "or", se = "se_log"), list(se_scale = "log"),
               hack$yi, hack$vi),
  project_case("hackshaw1998", "RATIO-SE", list(estimate = "or", se = "se_natural"), list(se_scale = "natural"),
               hack$yi, hack$vi)
))
write_json_file(list(metafor_version = as.character(packageVersion("metafor")), data = raw_files,
                     escalc = cases, relative_effect_size = relative, log_ratio_from_ci = from_ci),
                "effects.json")

# --------------------------------------------------------------------------- pooled from raw counts

# rma() given the counts and a measure (metafor computes the effect sizes itself): the reference for
# store estimates recorded as counts, turned into effect sizes by research.dataset and pooled
counts_case <- function(dataset, measure, arg_cols, d, mods = character(0), method = "REML", test = "z") {
  call_args <- c(list(measure = measure), lapply(arg_cols, function(col) d[[col]]),
                 list(method = method, test = TESTS[[test]]))
  if (length(mods)) call_args$mods <- as.formula(paste("~", paste(mods, collapse = " + ")))
  if (length(mods)) call_args$data <- d
  r <- do.call(rma, call_args)
  categorical <- mods[!sapply(d[mods], is.numeric)]
  list(dataset = dataset, measure = measure, args = arg_cols, method = method, test = test, mods = I(mods),
       categorical = I(categorical), yi = num(r$yi), vi = num(r$vi), expected = fit_view(r))
}
counts <- list(
  counts_case("bcg", "RR", two_by_two, dat.bcg),
  counts_case("bcg", "RR", two_by_two, dat.bcg, mods = "year"),
  counts_case("bcg", "RR", two_by_two, dat.bcg, mods = "year", method = "DL", test = "hksj"),
  counts_case("bcg", "OR", two_by_two, dat.bcg),
  counts_case("li2007", "RR", list(ai = "ai", bi = "bi", ci = "ci", di = "di"), li_raw),
  counts_case("hart1999", "IRR", list(x1i = "x1i", x2i = "x2i", t1i = "t1i", t2i = "t2i"), hart, mods = "year"),
  # a categorical moderator (the allocation, kept as the studies' setting) next to a continuous one
  counts_case("bcg", "RR", two_by_two, transform(dat.bcg, setting = alloc), mods = c("year", "setting"))
)
write_json_file(list(metafor_version = as.character(packageVersion("metafor")), data = raw_files, cases = counts),
                "counts.json")

# --------------------------------------------------------------------------- multilevel models

# rma.mv with nested random intercepts (e.g. ~ 1 | district/school). Profile-likelihood intervals
# of the variance components are found to a tight tolerance (confint's default stops at 1e-4).
mv_view <- function(r) {
  pred <- if (r$int.only) predict(r) else predict(r, newmods = rbind(rep(0, r$p - 1)))
  ci <- confint(r, control = list(tol = 1e-12))
  if (length(r$sigma2) == 1) ci <- list(ci)
  bounds <- t(sapply(ci[seq_along(r$sigma2)], function(x) x$random[1, 2:3]))
  v <- list(
    k = r$k, estimate = num(r$beta[1]), se = num(r$se[1]), statistic = num(r$zval[1]), p = num(r$pval[1]),
    ci_low = num(r$ci.lb[1]), ci_high = num(r$ci.ub[1]), pi_low = num(pred$pi.lb), pi_high = num(pred$pi.ub),
    sigma2 = num(r$sigma2), n_levels = as.integer(r$s.nlevels), sigma2_ci_low = num(bounds[, 1]),
    sigma2_ci_high = num(bounds[, 2]), q = num(r$QE), q_p = num(r$QEp), q_df = r$k - r$p,
    ll = num(logLik(r)), aic = num(AIC(r)), bic = num(BIC(r))
  )
  # I2 per level as in the metafor FAQ (multilevel models): sigma2 over sigma2 plus the typical
  # sampling variance (k - p) / tr(P), P the residual maker with weights 1/vi
  W <- solve(r$V)
  X <- model.matrix(r)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  typical <- (r$k - r$p) / sum(diag(P))
  v$i2 <- num(100 * r$sigma2 / (sum(r$sigma2) + typical))
  v$i2_total <- num(100 * sum(r$sigma2) / (sum(r$sigma2) + typical))
  if (!r$int.only) {
    v$coefficients <- lapply(seq_len(r$p), function(j) list(
      name = if (j == 1) "intercept" else rownames(r$beta)[j],
      estimate = num(r$beta[j]), se = num(r$se[j]), statistic = num(r$zval[j]), p = num(r$pval[j]),
      ci_low = num(r$ci.lb[j]), ci_high = num(r$ci.ub[j])))
    v$qm <- num(r$QM)
    v$qm_p <- num(r$QMp)
  }
  v
}

mv_case <- function(dataset, data_file, d, random, nested = TRUE, method = "REML", test = "z",
                    mods = character(0)) {
  formula <- if (nested) as.formula(paste("~ 1 |", paste(random, collapse = "/")))
             else lapply(random, function(g) as.formula(paste("~ 1 |", g)))
  f <- if (length(mods)) as.formula(paste("~", paste(mods, collapse = " + "))) else NULL
  r <- if (is.null(f)) rma.mv(yi, vi, random = formula, data = d, method = method, test = test)
       else rma.mv(yi, vi, mods = f, random = formula, data = d, method = method, test = test)
  list(dataset = dataset, data = data_file, random = I(random), nested = nested, method = method, test = test,
       mods = I(mods), expected = mv_view(r))
}

kon_file <- file.path("data", "konstantopoulos2011.csv")
assink <- dat.assink2016
assink_file <- write_data(assink, "assink2016.csv")
multilevel <- list()
for (method in c("REML", "ML")) for (test in c("z", "t")) {
  multilevel[[length(multilevel) + 1]] <- mv_case("konstantopoulos2011", kon_file, kon, c("district", "school"),
                                                  method = method, test = test)
  multilevel[[length(multilevel) + 1]] <- mv_case("konstantopoulos2011", kon_file, kon, c("district", "school"),
                                                  method = method, test = test, mods = "year")
}
multilevel <- c(multilevel, list(
  mv_case("konstantopoulos2011", kon_file, kon, c("district", "study"), nested = FALSE),
  mv_case("assink2016", assink_file, assink, c("study", "esid")),
  mv_case("assink2016", assink_file, assink, c("study", "esid"), method = "ML", test = "t", mods = "year"),
  # the variance between designs is estimated at the boundary (0)
  mv_case("hackshaw1998", file.path("data", "hackshaw1998.csv"), hack, c("design", "study"))
))
write_json_file(list(metafor_version = as.character(packageVersion("metafor")), cases = multilevel),
                "multilevel.json")
