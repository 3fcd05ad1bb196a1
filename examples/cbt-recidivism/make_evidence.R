# Writes the per-study records of this example case from the metadat package (version 1.2.0):
#   evidence/studies/landenberger2005.csv and evidence/estimates/landenberger2005.csv
# Run from this folder:  Rscript make_evidence.R
# Every value is copied from dat.landenberger2005; nothing is computed except ids and the year
# read from the study label. The quote column repeats the row's cells with their column names.
library(metadat)
d <- dat.landenberger2005
row <- seq_len(nrow(d))
author <- tolower(gsub("[^A-Za-z]+", "-", sub(" \\(.*$", "", d$study)))
year <- as.integer(sub("^.*\\((\\d{4})[a-z]?\\)$", "\\1", d$study))
key <- sprintf("ll2005-%02d-%s-%d", row, author, year)
design <- c(rct = "randomised_experiment", match = "non_randomised_controlled",
            nonequiv = "non_randomised_controlled")[d$design]
where <- sprintf("metadat 1.2.0, dat.landenberger2005, row %d (%s)", row, d$study)

studies <- data.frame(
  id = paste0("study-", key),
  title = sprintf("%s: cognitive-behavioural programme, %s setting (%s)", d$study, d$setting, d$group),
  source = "lit-landenberger-lipsey-2005",
  year = year,
  design = design,
  intervention = "cognitive-behavioural therapy for offenders",
  setting = d$setting,
  country = d$country,
  note = sprintf("design as coded by the review: %s; design problems: %s; publication type: %s; programme purpose: %s",
                 d$design, d$designprob, d$pubtype, d$program),
  stringsAsFactors = FALSE
)

quote <- sprintf("n.cbt.rec=%d; n.cbt.non=%d; n.ctrl.rec=%d; n.ctrl.non=%d; interval=%d months; design=%s",
                 d$n.cbt.rec, d$n.cbt.non, d$n.ctrl.rec, d$n.ctrl.non, d$interval, d$design)
estimates <- data.frame(
  id = paste0("est-", key),
  study = paste0("study-", key),
  source = "lit-metadat-landenberger-2005",
  where_read = where,
  quote = quote,
  outcome = sprintf("recidivism within %d months", d$interval),
  outcome_family = "recidivism",
  measure = "OR",
  provenance = "secondary",
  a = d$n.cbt.rec,
  b = d$n.cbt.non,
  c = d$n.ctrl.rec,
  d = d$n.ctrl.non,
  note = "Counts as coded by the review's authors; a, b: recidivists and non-recidivists with CBT; c, d: without.",
  stringsAsFactors = FALSE
)

dir.create("evidence/studies", recursive = TRUE, showWarnings = FALSE)
dir.create("evidence/estimates", recursive = TRUE, showWarnings = FALSE)
write.csv(studies, "evidence/studies/landenberger2005.csv", row.names = FALSE, na = "")
write.csv(estimates, "evidence/estimates/landenberger2005.csv", row.names = FALSE, na = "")
