# Reference values for analysis.teaching (the exercises of notebook 7 and the two-trial
# coverage simulation), from R and metafor.
#
# Run from the repository root:
#   Rscript tests/reference/teaching_reference.R
# It writes tests/reference/teaching_reference.json; every result records the R call that
# made it, with R's and metafor's versions, so the tests run without R. The trial numbers
# are typed in below from data/outcomes.csv, data/arms.csv, data/studies.csv and
# data/between_group.csv (this script does not read data/).
#
# Sections:
#   exercises   The answers that are not already in metafor_trials.json or
#               catchup_reference.json, each written out independently of the Python code:
#               1a the half-width of the 95% CI of Gudeman's MD (6.8 (5.6) vs 3.1 (4.1),
#                  n 20/20) with +/- read as the SD, from escalc(measure = "MD");
#               1b every split n / (40 - n) whose interval, centred on the Cochrane WMD 3.80,
#                  gives the printed bounds 0.76 and 6.84 to two decimals;
#               3a-c Nirschl's SE of the MD from p = 0.012 (two-sided), MD 9, n 99/100, with
#                  qt (197 df) and qnorm, the pooled SD, and the percentage change;
#               4a-b the design effect 1 + (M - 1) ICC for 40 feet from 20 patients and
#                  ICC 0.5, and the lower 95% bound of escalc(measure = "SMD") at n / DE;
#               5a qt(0.975, 1);
#               6b the smallest equivalence margin of Gudeman's one-month MD
#                  (1.8, SDs 6.3 and 8.0, n 20/20) from its 90% CI;
#               6c the rho at which the 95% CI of Gudeman's change in SMD excludes 0,
#                  with the Gleser-Olkin covariance, by uniroot (tol 1e-12).
#   simulation  The draws of tests/reference/teaching_simulation_draws.json (written by
#               analysis.teaching.simulate_two_trial_draws, 200 meta-analyses of two
#               trials per tau2), each pooled with rma(method = "REML") and
#               rma(method = "REML", test = "knha"): the CI bounds, tau2, and the
#               coverage of the true mu per tau2 and CI method.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

out_path <- file.path("tests", "reference", "teaching_reference.json")
draws_path <- file.path("tests", "reference", "teaching_simulation_draws.json")

run <- function(cl) {
  list(call = paste(trimws(deparse(cl, width.cutoff = 500L)), collapse = " "),
       value = eval(cl, globalenv()))
}

# --------------------------------------------------------------------------- exercises
ex <- list()

ex[["exercise-1a"]] <- run(quote(
  qnorm(0.975) * sqrt(escalc(measure = "MD", m1i = 6.8, sd1i = 5.6, n1i = 20,
                             m2i = 3.1, sd2i = 4.1, n2i = 20)$vi)))

splits <- function() {
  n <- 2:38
  hw <- qnorm(0.975) * sqrt(5.6^2 / n + 4.1^2 / (40 - n))
  n[abs(3.80 - hw - 0.76) <= 0.005 + 1e-9 & abs(3.80 + hw - 6.84) <= 0.005 + 1e-9]
}
ex[["splits"]] <- run(quote(splits()))
ex[["exercise-1b"]] <- list(call = "setdiff(splits(), 20)", value = setdiff(splits(), 20))

se_t <- abs(9) / qt(1 - 0.012 / 2, df = 197)
se_z <- abs(9) / qnorm(1 - 0.012 / 2)
ex[["exercise-3a"]] <- run(quote(abs(9) / qt(1 - 0.012 / 2, df = 197)))
ex[["exercise-3b"]] <- run(quote(se_t / sqrt(1 / 99 + 1 / 100)))
ex[["exercise-3c"]] <- run(quote(100 * (se_z / se_t - 1)))

de <- 1 + (40 / 20 - 1) * 0.5
ex[["exercise-4a"]] <- run(quote(1 + (40 / 20 - 1) * 0.5))
g_eff <- escalc(measure = "SMD", m1i = 6.8, sd1i = 5.6, n1i = 20 / de, m2i = 3.1, sd2i = 4.1,
                n2i = 20 / de)
ex[["exercise-4b"]] <- run(quote(g_eff$yi - qnorm(0.975) * sqrt(g_eff$vi)))

ex[["exercise-5a"]] <- run(quote(qt(0.975, df = 1)))

md_1m <- escalc(measure = "MD", m1i = 7.4, sd1i = 6.3, n1i = 20, m2i = 5.6, sd2i = 8.0, n2i = 20)
ex[["exercise-6b"]] <- run(quote(
  max(abs(md_1m$yi + c(-1, 1) * qnorm(0.95) * sqrt(md_1m$vi)))))

g1 <- escalc(measure = "SMD", m1i = 6.8, sd1i = 5.6, n1i = 20, m2i = 3.1, sd2i = 4.1, n2i = 20)
g2 <- escalc(measure = "SMD", m1i = 7.4, sd1i = 6.3, n1i = 20, m2i = 5.6, sd2i = 8.0, n2i = 20)
excess <- function(rho) {
  cov <- rho * (1 / 20 + 1 / 20) + rho^2 * g1$yi * g2$yi / (2 * 40)
  abs(g2$yi - g1$yi) - qnorm(0.975) * sqrt(g1$vi + g2$vi - 2 * cov)
}
ex[["exercise-6c"]] <- run(quote(uniroot(excess, c(0, 0.95), tol = 1e-12)$root))

# --------------------------------------------------------------------------- simulation
draws <- fromJSON(draws_path, simplifyVector = FALSE)
vi <- unlist(draws$vi)
mu <- draws$mu
fit <- function(y, test) {
  res <- tryCatch(rma(yi = y, vi = vi, method = "REML", test = test),
                  error = function(e) NULL)
  if (is.null(res)) return(c(NA, NA, NA))
  c(res$ci.lb, res$ci.ub, res$tau2)
}
sim <- list()
for (i in seq_along(draws$tau2)) {
  ys <- lapply(draws$y[[i]], unlist)
  for (test in c("z", "knha")) {
    fits <- t(vapply(ys, fit, numeric(3), test = test))
    ok <- !is.na(fits[, 1])
    sim[[length(sim) + 1]] <- list(
      tau2 = draws$tau2[[i]], test = test,
      call = sprintf("rma(yi = y, vi = c(%s), method = \"REML\", test = \"%s\")",
                     paste(format(vi, digits = 17), collapse = ", "), test),
      ci_lb = fits[, 1], ci_ub = fits[, 2], tau2_hat = fits[, 3],
      n_converged = sum(ok),
      coverage = mean(fits[ok, 1] <= mu & fits[ok, 2] >= mu))
  }
}

out <- list(
  generator = "tests/reference/teaching_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  exercises = ex,
  simulation = list(draws = draws_path, mu = mu, vi = vi, n_meta = draws$n_meta,
                    results = sim)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = FALSE, na = "null"), out_path)
cat("wrote", out_path, "\n")
