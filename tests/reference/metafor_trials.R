# Reference values for the per-trial effects of the review (analysis.trial_effects) and
# the forest-plot tables (analysis.figures.forest_tables), from the numbers of the real
# trials as stored in data/.
#
# Run from the repository root:
#   Rscript tests/reference/metafor_trials.R
# It writes tests/reference/metafor_trials.json; every result records the R call that
# made it and its inputs, with R's and metafor's versions. The tests read the JSON, so
# they run without R. The inputs are typed in below from data/outcomes.csv and
# data/arms.csv (this script does not read data/), so a change of the data that changes
# an effect makes the tests fail until this script is updated and rerun.
#
# Sections:
#   continuous  escalc() MD (vtype LS) and SMD (vtype LS and UB) for
#               Gudeman 1997, Maryland Foot Score change, dexamethasone vs placebo:
#                 end of treatment 6.8 (SD 5.6, n 20) vs 3.1 (SD 4.1, n 20)
#                 one month after  7.4 (SD 6.3, n 20) vs 5.6 (SD 8.0, n 20)
#               Nirschl 2003, pain VAS mean improvement (mm), n 99 vs 100, no SDs:
#                 2 days after treatment 23 vs 14, p = 0.012
#                 1 month after          24 vs 19, p = 0.249
#               For Nirschl the SE of the MD is recovered from the two-sided p with
#               Student's t, n1 + n2 - 2 = 197 df (Cochrane Handbook 6.5.2.3):
#               SE = |MD| / qt(1 - p/2, 197); pooled SD = SE / sqrt(1/99 + 1/100), used
#               as the SD of both arms in escalc(). The normal-quantile variant
#               (qnorm(1 - p/2)) is recorded as well.
#   binary      escalc() RR for Nirschl 2003 investigator global improvement
#               (moderate or better): 52% of 99 and 33% of 100 (2 days), 54% of 99 and
#               49% of 100 (1 month); counts round(percent * n / 100) = 51/99 vs 33/100
#               and 53/99 vs 49/100.
#   subgroups   Forest plot of the primary SMD (vtype LS) per window, running-injury
#               subgroup (Gudeman 1997) against the elbow subgroup (Nirschl 2003):
#               each subtotal by rma(method = "REML") (k = 1 in each subgroup, so the
#               subtotal is the trial's own estimate), then the test for subgroup
#               differences two ways: the common-effect Q across the subtotals
#               (rma(method = "FE") on the subtotal estimates and their SE^2; RevMan 5)
#               and the omnibus moderator test QM of rma(mods = ~ factor(group),
#               method = "FE") on the trials.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

out_path <- file.path("tests", "reference", "metafor_trials.json")

num <- function(x) {
  if (length(x) == 0L) return(NA_real_)
  x <- as.numeric(x)
  x[!is.finite(x)] <- NA
  x
}

# Evaluate a call whose inputs are written into it as numbers (bquote), keeping its
# deparsed text next to the result, so every JSON entry is a self-contained R call
# (numbers in the text are printed to 15 significant digits; R evaluates the exact ones).
run <- function(cl) {
  list(call = paste(trimws(deparse(cl, width.cutoff = 500L)),
                    collapse = " "),
       value = eval(cl, globalenv()))
}

continuous <- list()
add_cont <- function(case) continuous[[length(continuous) + 1L]] <<- case

# ------------------------------------------------------------------ Gudeman 1997
gudeman <- data.frame(
  timepoint_id = c("end_of_treatment", "one_month_after"),
  m1i = c(6.8, 7.4), sd1i = c(5.6, 6.3), n1i = c(20, 20),
  m2i = c(3.1, 5.6), sd2i = c(4.1, 8.0), n2i = c(20, 20)
)
for (i in seq_len(nrow(gudeman))) {
  g <- gudeman[i, ]
  inputs <- as.list(g[, c("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")])
  r <- run(bquote(escalc(measure = "MD", m1i = .(g$m1i), sd1i = .(g$sd1i), n1i = .(g$n1i),
                         m2i = .(g$m2i), sd2i = .(g$sd2i), n2i = .(g$n2i), vtype = "LS")))
  add_cont(list(study_id = "gudeman1997", outcome_id = "maryland_foot_score",
                timepoint_id = g$timepoint_id, measure = "MD", vtype = "LS",
                p_dist = NA, call = r$call, inputs = inputs,
                yi = num(r$value$yi), vi = num(r$value$vi)))
  for (vt in c("LS", "UB")) {
    r <- run(bquote(escalc(measure = "SMD", m1i = .(g$m1i), sd1i = .(g$sd1i),
                           n1i = .(g$n1i), m2i = .(g$m2i), sd2i = .(g$sd2i),
                           n2i = .(g$n2i), vtype = .(vt))))
    add_cont(list(study_id = "gudeman1997", outcome_id = "maryland_foot_score",
                  timepoint_id = g$timepoint_id, measure = "SMD", vtype = vt,
                  p_dist = NA, call = r$call, inputs = inputs,
                  yi = num(r$value$yi), vi = num(r$value$vi)))
  }
}

# ------------------------------------------------------------------ Nirschl 2003
nirschl <- data.frame(
  timepoint_id = c("day_2_after", "one_month_after"),
  m1i = c(23, 24), m2i = c(14, 19), n1i = c(99, 99), n2i = c(100, 100),
  p = c(0.012, 0.249)
)
for (i in seq_len(nrow(nirschl))) {
  d <- nirschl[i, ]
  for (dist in c("t", "normal")) {
    quant <- if (dist == "t") {
      bquote(qt(1 - .(d$p) / 2, df = .(d$n1i) + .(d$n2i) - 2))
    } else {
      bquote(qnorm(1 - .(d$p) / 2))
    }
    se_expr <- bquote(abs(.(d$m1i) - .(d$m2i)) / .(quant))
    sd_expr <- bquote(.(se_expr) / sqrt(1 / .(d$n1i) + 1 / .(d$n2i)))
    se_r <- run(se_expr)
    sd_r <- run(sd_expr)
    inputs <- list(m1i = d$m1i, n1i = d$n1i, m2i = d$m2i, n2i = d$n2i, p = d$p)
    recovery <- list(se_call = se_r$call, se = num(se_r$value),
                     sd_call = sd_r$call, sd = num(sd_r$value))
    r <- run(bquote(escalc(measure = "MD", m1i = .(d$m1i), sd1i = .(sd_expr),
                           n1i = .(d$n1i), m2i = .(d$m2i), sd2i = .(sd_expr),
                           n2i = .(d$n2i), vtype = "LS")))
    add_cont(c(list(study_id = "nirschl2003", outcome_id = "pain_vas",
                    timepoint_id = d$timepoint_id, measure = "MD", vtype = "LS",
                    p_dist = dist, call = r$call, inputs = inputs),
               recovery, list(yi = num(r$value$yi), vi = num(r$value$vi))))
    for (vt in c("LS", "UB")) {
      r <- run(bquote(escalc(measure = "SMD", m1i = .(d$m1i), sd1i = .(sd_expr),
                             n1i = .(d$n1i), m2i = .(d$m2i), sd2i = .(sd_expr),
                             n2i = .(d$n2i), vtype = .(vt))))
      add_cont(c(list(study_id = "nirschl2003", outcome_id = "pain_vas",
                      timepoint_id = d$timepoint_id, measure = "SMD", vtype = vt,
                      p_dist = dist, call = r$call, inputs = inputs),
                 recovery, list(yi = num(r$value$yi), vi = num(r$value$vi))))
    }
  }
}

# ------------------------------------------------------------------ binary
glob <- data.frame(
  timepoint_id = c("day_2_after", "one_month_after"),
  percent_t = c(52, 54), n1i = c(99, 99), percent_c = c(33, 49), n2i = c(100, 100)
)
binary <- list()
for (i in seq_len(nrow(glob))) {
  d <- glob[i, ]
  ai_expr <- bquote(round(.(d$percent_t) * .(d$n1i) / 100))
  ci_expr <- bquote(round(.(d$percent_c) * .(d$n2i) / 100))
  r <- run(bquote(escalc(measure = "RR", ai = .(ai_expr), n1i = .(d$n1i),
                         ci = .(ci_expr), n2i = .(d$n2i))))
  s <- summary(r$value)
  binary[[i]] <- list(study_id = "nirschl2003", outcome_id = "global_improvement",
                      timepoint_id = d$timepoint_id, measure = "RR",
                      inputs = list(percent_t = d$percent_t, n1i = d$n1i,
                                    ai = eval(ai_expr), percent_c = d$percent_c,
                                    n2i = d$n2i, ci = eval(ci_expr)),
                      call = r$call, yi = num(r$value$yi), vi = num(r$value$vi),
                      summary_call = "summary(<escalc result>)",
                      ci_lb_log = num(s$ci.lb), ci_ub_log = num(s$ci.ub),
                      zi = num(s$zi), pval = num(2 * pnorm(-abs(s$zi))))
}

# ------------------------------------------------------------------ subgroups
smd_of <- function(study, tp) {
  for (case in continuous) {
    if (case$study_id == study && case$timepoint_id == tp && case$measure == "SMD" &&
        case$vtype == "LS" && (is.na(case$p_dist) || case$p_dist == "t")) return(case)
  }
  stop("no case")
}
windows <- list(end_of_treatment = c(gudeman1997 = "end_of_treatment",
                                     nirschl2003 = "day_2_after"),
                about_one_month = c(gudeman1997 = "one_month_after",
                                    nirschl2003 = "one_month_after"))
subtotal <- function(r) list(call = r$call, k = r$value$k, estimate = num(r$value$b),
                             se = num(r$value$se), ci_lb = num(r$value$ci.lb),
                             ci_ub = num(r$value$ci.ub), zval = num(r$value$zval),
                             pval = num(r$value$pval), tau2 = num(r$value$tau2))
subgroups <- list()
for (w in names(windows)) {
  tp <- windows[[w]]
  g <- smd_of("gudeman1997", tp[["gudeman1997"]])
  n <- smd_of("nirschl2003", tp[["nirschl2003"]])
  s1 <- run(bquote(rma(yi = .(g$yi), vi = .(g$vi), method = "REML")))
  s2 <- run(bquote(rma(yi = .(n$yi), vi = .(n$vi), method = "REML")))
  est <- c(num(s1$value$b), num(s2$value$b))
  se <- c(num(s1$value$se), num(s2$value$se))
  fe <- run(bquote(rma(yi = .(est), vi = .(se^2), method = "FE")))
  mods <- run(bquote(rma(yi = .(c(g$yi, n$yi)), vi = .(c(g$vi, n$vi)),
                         mods = ~ factor(.(c("running_injury", "other_tendinopathy"))),
                         method = "FE")))
  qe <- fe$value$QE
  subgroups[[w]] <- list(
    window = w,
    timepoints = list(gudeman1997 = tp[["gudeman1997"]], nirschl2003 = tp[["nirschl2003"]]),
    subtotal_running_injury = subtotal(s1),
    subtotal_other_tendinopathy = subtotal(s2),
    fe_on_subtotals = list(call = fe$call, q = num(qe), q_df = fe$value$k - 1L,
                           q_pval = num(fe$value$QEp),
                           i2_call = "max(0, (Q - df) / Q) * 100",
                           i2 = num(max(0, (qe - (fe$value$k - 1)) / qe) * 100)),
    mods_fe = list(call = mods$call, qm = num(mods$value$QM), qm_df = mods$value$m,
                   qm_pval = num(mods$value$QMp))
  )
}

result <- list(
  generator = "tests/reference/metafor_trials.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  continuous = continuous,
  binary = binary,
  subgroups = unname(subgroups)
)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           out_path)
cat("wrote", out_path, "\n")
