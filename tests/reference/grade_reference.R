# Reference values for the GRADE and effect-direction helpers (analysis.grade).
#
# Run from the repository root:
#   Rscript tests/reference/grade_reference.R
# It writes tests/reference/grade_reference.json; every result records the R call that
# made it. The tests read the JSON, so they run without R.
#
# Sections:
#   power     power.t.test(): n per arm of a two-sample t test for a standardised
#             difference delta (sd = 1), two-sided, sig.level 0.05, at 80% and 90%
#             power, with strict = TRUE (power counts both rejection tails, as
#             statsmodels' TTestIndPower, the variant analysis.grade uses) and R's
#             default strict = FALSE (upper tail only). The optimal information size
#             (GRADE imprecision) is twice the n per arm rounded up; both variants round
#             to the same whole numbers here.
#   sign      binom.test(x, n, p = 0.5): two-sided exact p of the sign test, including
#             the smallest p a unanimous vote of n can give (x = n).
#   weights   rma(yi, vi, method = "REML") on a synthetic set of three SMDs: tau^2 and
#             weights(), the normalised inverse-variance weights 1 / (vi + tau^2)
#             that GRADE's risk-of-bias rule uses to say where the information comes from.
#             The numbers are synthetic, typed in below.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

out_path <- file.path("tests", "reference", "grade_reference.json")

run <- function(cl) {
  list(call = paste(trimws(deparse(cl, width.cutoff = 500L)), collapse = " "),
       value = eval(cl, globalenv()))
}

power <- list()
for (delta in c(0.2, 0.3, 0.5, 0.8)) {
  for (pw in c(0.8, 0.9)) {
    r <- run(bquote(power.t.test(delta = .(delta), sd = 1, sig.level = 0.05, power = .(pw),
                                 type = "two.sample", alternative = "two.sided", strict = TRUE)))
    r1 <- run(bquote(power.t.test(delta = .(delta), sd = 1, sig.level = 0.05, power = .(pw),
                                  type = "two.sample", alternative = "two.sided")))
    power[[length(power) + 1L]] <- list(call = r$call, delta = delta, power = pw,
                                        n_per_arm = r$value$n, call_upper_tail = r1$call,
                                        n_per_arm_upper_tail = r1$value$n)
  }
}

sign <- list()
for (xn in list(c(1, 1), c(5, 5), c(6, 6), c(5, 6), c(9, 9), c(7, 10), c(0, 5), c(3, 8))) {
  r <- run(bquote(binom.test(.(xn[1]), .(xn[2]), p = 0.5, alternative = "two.sided")))
  sign[[length(sign) + 1L]] <- list(call = r$call, x = xn[1], n = xn[2], p_value = r$value$p.value)
}

yi <- c(0.74, 0.10, 0.45)
vi <- c(0.107, 0.035, 0.060)
r <- run(bquote(rma(yi = .(yi), vi = .(vi), method = "REML")))
weights_case <- list(call = r$call, yi = yi, vi = vi, tau2 = r$value$tau2,
                     weights = as.numeric(weights(r$value)) / 100)

writeLines(toJSON(list(generator = "tests/reference/grade_reference.R",
                       r_version = R.version.string,
                       metafor_version = as.character(packageVersion("metafor")),
                       power = power, sign = sign, weights = weights_case),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE), out_path)
