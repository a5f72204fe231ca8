# Reference results for analysis.pooling, computed with R's metafor.
#
# Run from the repository root:
#     Rscript tests/reference/metafor_pooling.R
# It writes tests/reference/metafor_pooling.json, which the Python tests read
# (R is not needed at test time). Every result records the exact R calls that
# produced it, the metafor and R versions, and any warning or error metafor gave.
#
# Data sets: metafor's dat.bcg (log risk ratio via escalc), dat.normand1999
# (mean difference via escalc), dat.raudenbush1985 (standardised mean
# difference, yi/vi as supplied), dat.molloy2014 (Fisher z of correlations via
# escalc), dat.hackshaw1998 (log odds ratios, k = 37) and dat.konstantopoulos2011
# (k = 56), and invented edge cases: k = 1, k = 2,
# homogeneous (tau^2 estimate 0), extreme heterogeneity, very unequal variances.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

datasets <- list()

d <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets$bcg <- list(yi = as.numeric(d$yi), vi = as.numeric(d$vi),
  source = 'escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)')

d <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i,
            m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
datasets$normand1999 <- list(yi = as.numeric(d$yi), vi = as.numeric(d$vi),
  source = 'escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)')

datasets$raudenbush1985 <- list(yi = as.numeric(dat.raudenbush1985$yi),
  vi = as.numeric(dat.raudenbush1985$vi), source = "dat.raudenbush1985 (yi, vi as supplied)")

d <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
datasets$molloy2014 <- list(yi = as.numeric(d$yi), vi = as.numeric(d$vi),
  source = 'escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)')

datasets$hackshaw1998 <- list(yi = as.numeric(dat.hackshaw1998$yi),
  vi = as.numeric(dat.hackshaw1998$vi), source = "dat.hackshaw1998 (log OR yi, vi as supplied)")

datasets$konstantopoulos2011 <- list(yi = as.numeric(dat.konstantopoulos2011$yi),
  vi = as.numeric(dat.konstantopoulos2011$vi),
  source = "dat.konstantopoulos2011 (yi, vi as supplied; k = 56, pooled ignoring its district level)")

datasets$k1 <- list(yi = datasets$bcg$yi[1], vi = datasets$bcg$vi[1],
  source = "first study of dat.bcg (log RR)")

datasets$k2 <- list(yi = datasets$bcg$yi[c(1, 4)], vi = datasets$bcg$vi[c(1, 4)],
  source = "studies 1 and 4 of dat.bcg (log RR)")

datasets$homogeneous <- list(yi = c(0.10, 0.12, 0.09, 0.11, 0.10),
  vi = c(0.02, 0.03, 0.025, 0.04, 0.02), source = "invented: Q far below its df")

datasets$extreme_heterogeneity <- list(yi = c(-3, 0.5, 4, 8, -6, 10),
  vi = c(0.01, 0.02, 0.015, 0.01, 0.03, 0.02), source = "invented: I^2 near 100%")

datasets$unequal_variances <- list(yi = c(0.2, 0.5, -0.1, 1.2, 0.8),
  vi = c(1e-4, 0.5, 2, 10, 0.01), source = "invented: variances spanning 5 orders of magnitude")

# Fisher scoring oscillates here and metafor stops at maxiter = 100 with an error;
# with control = list(maxiter = 1000) it converges.
datasets$fisher_nonconvergence <- list(
  yi = c(0.54707672514829797, 0.33801220522835551, 0.50017552025346945,
         0.11184453106842135, 0.37190630848854939),
  vi = c(0.090136865111237294, 0.16237907666091811, 0.11137947769277529,
         0.015657803161411323, 0.13512358662990365),
  source = "simulated (normal, k = 5): REML Fisher scoring needs more than 100 iterations")

# One far outlier with a median absolute deviation of 0: Paule-Mandel's search range
# [0, max(100, 10 * mad(yi)^2)] = [0, 100] is too short and metafor stops.
datasets$pm_range_too_short <- list(yi = c(0, 0.01, -0.01, 0.02, 1000),
  vi = c(0.01, 0.01, 0.01, 0.01, 0.01),
  source = "invented: the PM root lies beyond tau2.max")

methods <- c("FE", "REML", "ML", "DL", "PM", "HE", "SJ", "SJIT")

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(x)[1]

# jsonlite prints at most 15 significant digits; write every number with 17
# (round-trip exact) as verbatim JSON instead.
json_num <- function(x, array = FALSE) {
  s <- ifelse(is.na(x), "null", sprintf("%.17g", x))
  if (array || length(x) != 1L) s <- paste0("[", paste(s, collapse = ", "), "]")
  structure(s, class = "json")
}
json_numbers <- function(x) {
  if (is.list(x)) return(lapply(x, json_numbers))
  if (is.numeric(x)) return(json_num(x))
  x
}

run_one <- function(name, method, knha, level, extra = "") {
  ds <- datasets[[name]]
  yi <- ds$yi
  vi <- ds$vi
  test <- if (knha) "knha" else "z"
  fit_call <- sprintf('rma(yi, vi, method = "%s", test = "%s", level = %s%s)',
                      method, test, level, extra)
  pred_call <- "predict(fit)"
  riley_call <- 'predict(fit, pi.type = "riley")'
  ci_call <- "confint(fit)"
  warn <- character(0)
  collect <- function(w) {
    warn <<- c(warn, conditionMessage(w))
    invokeRestart("muffleWarning")
  }
  out <- list(dataset = name, method = method, knha = knha, level = level / 100,
              control = extra, call = fit_call)
  fit <- tryCatch(withCallingHandlers(eval(parse(text = fit_call)), warning = collect),
                  error = function(e) e)
  if (inherits(fit, "error")) {
    out$error <- conditionMessage(fit)
    out$warnings <- I(warn)
    return(out)
  }
  res <- list(estimate = num(fit$beta), se = num(fit$se), ci_lb = num(fit$ci.lb),
              ci_ub = num(fit$ci.ub), stat = num(fit$zval), pval = num(fit$pval),
              df = if (knha) num(fit$ddf) else NA_real_,
              tau2 = num(fit$tau2), tau2_se = num(fit$se.tau2),
              i2 = num(fit$I2), h2 = num(fit$H2), q = num(fit$QE),
              q_df = fit$k - fit$p, q_pval = num(fit$QEp), vt = num(fit$vt),
              tau2_ci_lb = NA_real_, tau2_ci_ub = NA_real_,
              i2_ci_lb = NA_real_, i2_ci_ub = NA_real_,
              pi_lb = NA_real_, pi_ub = NA_real_,
              pi_riley_lb = NA_real_, pi_riley_ub = NA_real_)
  calls <- c(fit_call)
  if (method != "FE" && fit$k > 1) {
    pr <- withCallingHandlers(eval(parse(text = pred_call)), warning = collect)
    res$pi_lb <- num(pr$pi.lb)
    res$pi_ub <- num(pr$pi.ub)
    calls <- c(calls, pred_call)
    if (fit$k > 2) {
      pr <- withCallingHandlers(eval(parse(text = riley_call)), warning = collect)
      res$pi_riley_lb <- num(pr$pi.lb)
      res$pi_riley_ub <- num(pr$pi.ub)
      calls <- c(calls, riley_call)
    }
    ci <- tryCatch(withCallingHandlers(eval(parse(text = ci_call)), warning = collect),
                   error = function(e) e)
    if (!inherits(ci, "error")) {
      res$tau2_ci_lb <- num(ci$random["tau^2", "ci.lb"])
      res$tau2_ci_ub <- num(ci$random["tau^2", "ci.ub"])
      res$i2_ci_lb <- num(ci$random["I^2(%)", "ci.lb"])
      res$i2_ci_ub <- num(ci$random["I^2(%)", "ci.ub"])
      calls <- c(calls, ci_call)
    }
  }
  out$calls <- I(calls)
  out$result <- res
  out$warnings <- I(warn)
  out
}

results <- list()
special <- c("fisher_nonconvergence", "pm_range_too_short")
for (name in setdiff(names(datasets), special)) {
  for (method in methods) {
    for (knha in c(FALSE, TRUE)) {
      results[[length(results) + 1]] <- run_one(name, method, knha, 95)
    }
  }
}
for (method in c("REML", "DL")) {
  for (knha in c(FALSE, TRUE)) {
    results[[length(results) + 1]] <- run_one("bcg", method, knha, 90)
  }
}

for (method in c("REML", "ML")) {
  results[[length(results) + 1]] <- run_one("fisher_nonconvergence", method, FALSE, 95)
  results[[length(results) + 1]] <- run_one("fisher_nonconvergence", method, FALSE, 95,
                                            ", control = list(maxiter = 1000)")
}

results[[length(results) + 1]] <- run_one("pm_range_too_short", "PM", FALSE, 95)
results[[length(results) + 1]] <- run_one("pm_range_too_short", "REML", FALSE, 95)

meta <- list(
  generated_by = "tests/reference/metafor_pooling.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  note = paste("yi and vi per data set; each result gives the rma() call and the",
               "predict()/confint() calls run on it (object 'fit').",
               "i2 and its CI are in percent, as metafor reports them.",
               "pi_riley_* are predict(fit, pi.type = \"riley\"): t with k - 2 df.")
)
ds_out <- lapply(datasets, function(d) list(yi = json_num(d$yi, array = TRUE),
                                           vi = json_num(d$vi, array = TRUE),
                                           source = d$source))
json <- toJSON(list(meta = meta, datasets = ds_out, results = json_numbers(results)),
               auto_unbox = TRUE, json_verbatim = TRUE, na = "null", pretty = TRUE)
writeLines(json, "tests/reference/metafor_pooling.json")
cat("wrote", length(results), "results\n")
