# Reference results for analysis.pooling's iteration settings (control) and for
# convergence on very large and very small scales, computed with R's metafor.
#
# Run from the repository root:
#     Rscript tests/reference/metafor_control.R
# It writes tests/reference/metafor_control.json, read by
# tests/test_pooling_convergence.py (R is not needed at test time). Each case
# records the rma() call, the confint() call run on it (object 'fit'), the
# Python control dict that corresponds to them, and any warning or error metafor
# gave.
#
# Correspondence of settings (Python control -> metafor):
#   threshold, maxiter, stepadj, tau2_init, tau2_max, tol -> rma(control = list(
#       threshold, maxiter, stepadj, tau2.init, tau2.max, tol)); tau2.max given to
#       rma() is also the Q-profile search limit of confint(), as in metafor;
#   tol, ci_maxiter -> confint(fit, control = list(tol, maxiter)).

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

datasets <- list()

d <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets$bcg <- list(yi = as.numeric(d$yi), vi = as.numeric(d$vi),
  source = 'escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)')

# Outcomes in large units (tau^2 near 1.8e12): an absolute threshold of 1e-5 is
# below the spacing of floats there.
datasets$large_units <- list(yi = c(1.2e6, 3.4e6, 0.95e6, 4.1e6, 2.6e6),
  vi = c(4e10, 9e10, 2.5e10, 1.6e11, 8e10),
  source = "invented: outcomes in large units (tau^2 about 1.8e12)")
datasets$large_units_reversed <- list(yi = rev(datasets$large_units$yi),
  vi = rev(datasets$large_units$vi), source = "large_units in reverse study order")

# Risk differences of rare events (variances near 1e-7): the absolute tolerances
# (threshold 1e-5, tol eps^0.25 ~ 1.2e-4) are far above tau^2.
datasets$rare_event_rd <- list(yi = c(0.0010, 0.0025, -0.0002, 0.0018, 0.0031),
  vi = c(2e-7, 3e-7, 1.5e-7, 2.5e-7, 4e-7),
  source = "invented: risk differences of rare events (variances near 1e-7)")

# From tests/reference/metafor_pooling.R: REML Fisher scoring needs more than 100
# iterations (it oscillates); stepadj = 0.5 damps it.
datasets$fisher_nonconvergence <- list(
  yi = c(0.54707672514829797, 0.33801220522835551, 0.50017552025346945,
         0.11184453106842135, 0.37190630848854939),
  vi = c(0.090136865111237294, 0.16237907666091811, 0.11137947769277529,
         0.015657803161411323, 0.13512358662990365),
  source = "simulated (normal, k = 5), as in metafor_pooling.R")

datasets$pm_range_too_short <- list(yi = c(0, 0.01, -0.01, 0.02, 1000),
  vi = c(0.01, 0.01, 0.01, 0.01, 0.01),
  source = "invented: the PM root lies beyond the default tau2.max = 100")

# Extreme variance ratios: variances 1e-24 and 1e24 are the corners `pool` accepts.
# Sums such as W - sum w^2 / W lose the small weights there (analysis.pooling keeps them).
datasets$extreme_corners <- list(yi = c(-1e12, 1e12), vi = c(1e-24, 1e24),
  source = "invented: two studies at the corners of what pool accepts")
datasets$extreme_two <- list(yi = c(0, 1), vi = c(1e-24, 1e24),
  source = "invented: two studies, variances 1e-24 and 1e24 (REML tau2 = 0)")
datasets$extreme_tau2 <- list(yi = c(0, 10), vi = c(1e-24, 1),
  source = "invented: two studies, variances 1e-24 and 1 (tau2 = 49.5 by REML and DL)")
datasets$extreme_three <- list(yi = c(0, 10, -10), vi = c(1e-24, 1, 1),
  source = "invented: three studies, one with variance 1e-24 (DL tau2 = 49.5)")

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(x)[1]

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

# rma_control and ci_control are R source text ("" for none); python is the
# equivalent Python control dict (a named list; empty for the defaults).
run_case <- function(name, dataset, method, rma_control = "", ci_control = "",
                     python = list()) {
  ds <- datasets[[dataset]]
  yi <- ds$yi
  vi <- ds$vi
  fit_call <- sprintf('rma(yi, vi, method = "%s"%s)', method,
                      if (nzchar(rma_control)) paste0(", control = ", rma_control) else "")
  ci_call <- sprintf("confint(fit%s)",
                     if (nzchar(ci_control)) paste0(", control = ", ci_control) else "")
  warn <- character(0)
  collect <- function(w) {
    warn <<- c(warn, conditionMessage(w))
    invokeRestart("muffleWarning")
  }
  out <- list(name = name, dataset = dataset, method = method,
              python_control = if (length(python)) python else structure(list(), names = character(0)),
              call = fit_call)
  fit <- tryCatch(withCallingHandlers(eval(parse(text = fit_call)), warning = collect),
                  error = function(e) e)
  if (inherits(fit, "error")) {
    out$error <- conditionMessage(fit)
    out$warnings <- I(warn)
    return(out)
  }
  res <- list(estimate = num(fit$beta), se = num(fit$se), pval = num(fit$pval),
              ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub),
              tau2 = num(fit$tau2), tau2_se = num(fit$se.tau2), q = num(fit$QE),
              tau2_ci_lb = NA_real_, tau2_ci_ub = NA_real_)
  calls <- fit_call
  if (method != "FE") {
    ci <- tryCatch(withCallingHandlers(eval(parse(text = ci_call)), warning = collect),
                   error = function(e) e)
    if (!inherits(ci, "error")) {
      res$tau2_ci_lb <- num(ci$random["tau^2", "ci.lb"])
      res$tau2_ci_ub <- num(ci$random["tau^2", "ci.ub"])
      calls <- c(calls, ci_call)
    }
  }
  out$calls <- I(calls)
  out$result <- res
  out$warnings <- I(warn)
  out
}

cases <- list()
add <- function(...) cases[[length(cases) + 1]] <<- run_case(...)

# --- large units: both study orders, every iterative estimator
for (ds in c("large_units", "large_units_reversed")) {
  for (method in c("REML", "ML", "SJIT", "PM", "DL")) {
    add(paste(ds, method, sep = "-"), ds, method)
  }
  # where metafor cannot meet threshold = 1e-5 in floating point, a threshold it can
  # meet (0.01, a few hundred spacings of floats at 1.8e12) gives its answer
  for (method in c("ML", "SJIT")) {
    add(paste(ds, method, "threshold0.01", sep = "-"), ds, method,
        "list(threshold = 0.01)", "", list(threshold = 0.01))
  }
}

# --- threshold
add("bcg-REML-threshold0.01", "bcg", "REML", "list(threshold = 0.01)", "",
    list(threshold = 0.01))
add("bcg-SJIT-threshold0.01", "bcg", "SJIT", "list(threshold = 0.01)", "",
    list(threshold = 0.01))

# --- maxiter (Fisher scoring, SJIT and the PM root search)
add("bcg-REML-maxiter2", "bcg", "REML", "list(maxiter = 2)", "", list(maxiter = 2))
add("bcg-REML-maxiter5", "bcg", "REML", "list(maxiter = 5)", "", list(maxiter = 5))
add("bcg-SJIT-maxiter3", "bcg", "SJIT", "list(maxiter = 3)", "", list(maxiter = 3))
add("bcg-PM-maxiter3", "bcg", "PM", "list(maxiter = 3)", "", list(maxiter = 3))

# --- stepadj
add("fisher_nonconvergence-REML-stepadj0.5", "fisher_nonconvergence", "REML",
    "list(stepadj = 0.5)", "", list(stepadj = 0.5))
add("bcg-REML-stepadj0.5", "bcg", "REML", "list(stepadj = 0.5)", "", list(stepadj = 0.5))
add("bcg-ML-stepadj0.3", "bcg", "ML", "list(stepadj = 0.3)", "", list(stepadj = 0.3))

# --- tau2_init
add("bcg-REML-tau2init2", "bcg", "REML", "list(tau2.init = 2)", "", list(tau2_init = 2))
add("bcg-ML-tau2init0", "bcg", "ML", "list(tau2.init = 0)", "", list(tau2_init = 0))
add("bcg-SJ-tau2init0.5", "bcg", "SJ", "list(tau2.init = 0.5)", "", list(tau2_init = 0.5))
add("bcg-SJIT-tau2init0.05", "bcg", "SJIT", "list(tau2.init = 0.05)", "",
    list(tau2_init = 0.05))

# --- tau2_max: the PM search range and the Q-profile search range
add("pm_range_too_short-PM-tau2max1e7", "pm_range_too_short", "PM",
    "list(tau2.max = 1e7)", "", list(tau2_max = 1e7))
add("bcg-PM-tau2max0.1", "bcg", "PM", "list(tau2.max = 0.1)", "", list(tau2_max = 0.1))
add("bcg-REML-tau2max0.2", "bcg", "REML", "list(tau2.max = 0.2)", "", list(tau2_max = 0.2))
add("bcg-DL-tau2max50", "bcg", "DL", "list(tau2.max = 50)", "", list(tau2_max = 50))

# --- tol: the PM root search, the Q-profile root search, the REML tau2 = 0 check
add("bcg-PM-tol0.01", "bcg", "PM", "list(tol = 0.01)", "list(tol = 0.01)", list(tol = 0.01))
add("bcg-REML-tol0.01", "bcg", "REML", "list(tol = 0.01)", "list(tol = 0.01)",
    list(tol = 0.01))

# --- ci_maxiter: the Q-profile root search (confint's maxiter)
add("bcg-PM-cimaxiter3", "bcg", "PM", "", "list(maxiter = 3)", list(ci_maxiter = 3))
add("bcg-REML-cimaxiter5", "bcg", "REML", "", "list(maxiter = 5)", list(ci_maxiter = 5))

# --- small scale: metafor's defaults stop far from the optimum; lower controls do not
for (method in c("PM", "REML", "ML", "SJIT", "DL")) {
  add(paste("rare_event_rd", method, sep = "-"), "rare_event_rd", method)
  add(paste("rare_event_rd", method, "tight", sep = "-"), "rare_event_rd", method,
      "list(threshold = 1e-12, tol = 1e-12)", "list(tol = 1e-12)",
      list(threshold = 1e-12, tol = 1e-12))
}

# --- extreme variance ratios
add("extreme_corners-DL", "extreme_corners", "DL")
add("extreme_corners-REML", "extreme_corners", "REML")
for (method in c("REML", "DL")) {
  for (ds in c("extreme_two", "extreme_tau2", "extreme_three")) {
    add(paste(ds, method, sep = "-"), ds, method)
  }
}

meta <- list(
  generated_by = "tests/reference/metafor_control.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  note = paste("Each case gives the rma() call, the confint() call run on it (object",
               "'fit') and python_control, the equivalent analysis.pooling control dict.")
)
ds_out <- lapply(datasets, function(d) list(yi = json_num(d$yi, array = TRUE),
                                           vi = json_num(d$vi, array = TRUE),
                                           source = d$source))
json <- toJSON(list(meta = meta, datasets = ds_out, cases = json_numbers(cases)),
               auto_unbox = TRUE, json_verbatim = TRUE, na = "null", pretty = TRUE)
writeLines(json, "tests/reference/metafor_control.json")
cat("wrote", length(cases), "cases\n")
