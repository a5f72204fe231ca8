# Reference values for analysis.effect_sizes and the `pool` command.
#
# Run from the repository root:
#   Rscript tests/reference/metafor_escalc.R
# It writes tests/reference/metafor_escalc.json; every result records the R call that
# made it, the inputs, R's and metafor's versions. The tests read the JSON, so they run
# without R.
#
# Sections:
#   escalc   metafor::escalc() for MD (vtype LS, HO), SMD (LS, LS2, UB, AV), RR, OR, RD
#            (metafor's default continuity correction and to = "all"/"none" variants)
#            on dat.normand1999, dat.bcg and small hand-made tables with zero cells.
#   revman5  RevMan 5's SMD (Deeks & Higgins 2010; R meta's exact.smd = FALSE): the
#            formula written out in R, because neither RevMan nor R's meta is
#            available here.
#   fivenum  Wan et al. (2014) SDs and Luo et al. (2018) / Wan et al. (2014) means,
#            written out in R from the papers' equations. metafor::conv.fivenum(),
#            which implements them, was added in metafor 4.0-0; the metafor installed
#            here is 3.8-1, so these are an independent transcription in another
#            language, not metafor output.
#   rma      metafor::rma() on the SMDs of dat.normand1999 and the log RRs of dat.bcg,
#            for the command-line tests.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

out_path <- file.path("tests", "reference", "metafor_escalc.json")

num <- function(x) {
  if (length(x) == 0L) return(NA_real_)  # e.g. no prediction interval for an FE model
  x <- as.numeric(x)
  x[!is.finite(x)] <- NA
  x
}

# Evaluate a call, keeping its deparsed text next to the result.
run <- function(expr) {
  e <- substitute(expr)
  list(call = paste(trimws(deparse(e, width.cutoff = 500L)), collapse = " "),
       value = eval(e, parent.frame()))
}

normand <- dat.normand1999
bcg <- dat.bcg

# Hand-made 2x2 tables: ordinary, one zero cell, zero events in both arms, all events
# in one arm, and zero events in the control arm only.
zeros <- data.frame(ai  = c(4, 0, 0, 10, 3),
                    n1i = c(20, 15, 12, 10, 25),
                    ci  = c(9, 5, 0, 6, 0),
                    n2i = c(21, 16, 13, 11, 24))

# Hand-made continuous data with small arms, where the vtypes differ most.
small <- data.frame(m1i = c(5.2, 3.1, 10.0), sd1i = c(1.1, 2.4, 3.0), n1i = c(4, 6, 3),
                    m2i = c(4.0, 3.9, 7.5),  sd2i = c(0.9, 2.0, 2.5), n2i = c(5, 6, 3))

escalc_case <- function(name, r, inputs) {
  list(name = name, call = r$call, inputs = inputs,
       yi = num(r$value$yi), vi = num(r$value$vi))
}

cont_in <- function(d) as.list(d[, c("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")])
bin_in  <- function(ai, n1i, ci, n2i) list(ai = ai, n1i = n1i, ci = ci, n2i = n2i)

escalc_cases <- list()
add_case <- function(name, r, inputs) {
  escalc_cases[[length(escalc_cases) + 1L]] <<- escalc_case(name, r, inputs)
}

for (vt in c("LS", "HO")) {
  add_case(paste0("normand1999_MD_", vt),
           eval(bquote(run(escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i,
                                  m2i = m2i, sd2i = sd2i, n2i = n2i,
                                  data = normand, vtype = .(vt))))),
           cont_in(normand))
}
for (vt in c("LS", "LS2", "UB", "AV")) {
  add_case(paste0("normand1999_SMD_", vt),
           eval(bquote(run(escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i,
                                  m2i = m2i, sd2i = sd2i, n2i = n2i,
                                  data = normand, vtype = .(vt))))),
           cont_in(normand))
  add_case(paste0("small_SMD_", vt),
           eval(bquote(run(escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i,
                                  m2i = m2i, sd2i = sd2i, n2i = n2i,
                                  data = small, vtype = .(vt))))),
           cont_in(small))
}

bcg_in <- bin_in(bcg$tpos, bcg$tpos + bcg$tneg, bcg$cpos, bcg$cpos + bcg$cneg)
for (ms in c("RR", "OR", "RD")) {
  add_case(paste0("bcg_", ms),
           eval(bquote(run(escalc(measure = .(ms), ai = tpos, bi = tneg, ci = cpos,
                                  di = cneg, data = bcg)))),
           bcg_in)
  add_case(paste0("zeros_", ms, "_only0"),
           eval(bquote(run(escalc(measure = .(ms), ai = ai, n1i = n1i, ci = ci,
                                  n2i = n2i, data = zeros)))),
           as.list(zeros))
  add_case(paste0("zeros_", ms, "_all"),
           eval(bquote(run(escalc(measure = .(ms), ai = ai, n1i = n1i, ci = ci,
                                  n2i = n2i, data = zeros, add = 1/2, to = "all")))),
           as.list(zeros))
  add_case(paste0("zeros_", ms, "_if0all"),
           eval(bquote(run(escalc(measure = .(ms), ai = ai, n1i = n1i, ci = ci,
                                  n2i = n2i, data = zeros, add = 1/2, to = "if0all")))),
           as.list(zeros))
}
# Uncorrected RD is finite with zero cells (rows 1, 2, 4, 5; row 3 has zero variance).
zeros_rd <- zeros[-3, ]
add_case("zeros_RD_none",
         run(escalc(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i,
                    data = zeros_rd, to = "none")),
         as.list(zeros_rd))

# RevMan 5 SMD (Deeks & Higgins 2010), written out.
revman5 <- function(d) {
  N  <- d$n1i + d$n2i
  sp <- sqrt(((d$n1i - 1) * d$sd1i^2 + (d$n2i - 1) * d$sd2i^2) / (N - 2))
  g  <- (1 - 3 / (4 * N - 9)) * (d$m1i - d$m2i) / sp
  list(yi = g, vi = N / (d$n1i * d$n2i) + g^2 / (2 * (N - 3.94)))
}
revman_cases <- list(
  escalc_case("normand1999_SMD_RevMan5", run(revman5(normand)), cont_in(normand)),
  escalc_case("small_SMD_RevMan5", run(revman5(small)), cont_in(small))
)

# Wan et al. (2014) and Luo et al. (2018), written out from the papers.
xi  <- function(n) 2 * qnorm((n - 0.375) / (n + 0.25))        # Wan eq. 7
eta <- function(n) 2 * qnorm((0.75 * n - 0.125) / (n + 0.25)) # Wan eq. 15
fivenum_est <- function(n, a, q1, m, q3, b) {
  w_s1  <- 4 / (4 + n^0.75)
  w1_s2 <- 2.2 / (2.2 + n^0.75)
  w2_s2 <- 0.7 - 0.72 / n^0.55
  w_s3  <- 0.7 + 0.39 / n
  w_shi <- 1 / (1 + 0.07 * n^0.6)
  list(
    mean_luo2018_S1 = w_s1 * (a + b) / 2 + (1 - w_s1) * m,
    mean_luo2018_S2 = w1_s2 * (a + b) / 2 + w2_s2 * (q1 + q3) / 2 + (1 - w1_s2 - w2_s2) * m,
    mean_luo2018_S3 = w_s3 * (q1 + q3) / 2 + (1 - w_s3) * m,
    mean_wan2014_S1 = (a + 2 * m + b) / 4,
    mean_wan2014_S2 = (a + 2 * q1 + 2 * m + 2 * q3 + b) / 8,
    mean_wan2014_S3 = (q1 + m + q3) / 3,
    sd_wan2014_S1 = (b - a) / xi(n),
    sd_wan2014_S2 = ((b - a) / xi(n) + (q3 - q1) / eta(n)) / 2,
    sd_wan2014_S3 = (q3 - q1) / eta(n),
    sd_shi2020_S2 = w_shi * (b - a) / xi(n) + (1 - w_shi) * (q3 - q1) / eta(n)
  )
}
# Skewed and symmetric summaries, from small to large n.
five <- data.frame(n  = c(5, 12, 40, 150, 1000),
                   a  = c(1, 2, 0.5, 10, -3),
                   q1 = c(2, 4, 3.0, 20, -1),
                   m  = c(3, 5, 4.5, 25, 0),
                   q3 = c(5, 9, 6.0, 30, 1),
                   b  = c(9, 20, 11.0, 45, 3))
fivenum_ref <- list(name = "fivenum_formulas",
                    call = "fivenum_est(five$n, five$a, five$q1, five$m, five$q3, five$b)",
                    inputs = list(n = five$n, min = five$a, q1 = five$q1, median = five$m,
                                  q3 = five$q3, max = five$b),
                    values = lapply(fivenum_est(five$n, five$a, five$q1, five$m, five$q3,
                                                five$b), num))

# rma() results for the command-line tests.
rma_fields <- function(res, pred) {
  list(k = res$k, estimate = num(res$b), se = num(res$se), ci_lb = num(res$ci.lb),
       ci_ub = num(res$ci.ub), pval = num(res$pval), tau2 = num(res$tau2),
       i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE), q_pval = num(res$QEp),
       pi_lb = num(pred$pi.lb), pi_ub = num(pred$pi.ub),
       weights = num(weights(res) / 100))
}
smd_ls <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i,
                 sd2i = sd2i, n2i = n2i, data = normand)
bcg_rr <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
rma_cases <- list()
add_rma <- function(name, r, data_name) {
  rma_cases[[length(rma_cases) + 1L]] <<- c(
    list(name = name, call = r$call, data = data_name),
    rma_fields(r$value, predict(r$value)))
}
for (meth in c("REML", "DL", "FE")) {
  add_rma(paste0("normand1999_SMD_", meth),
          eval(bquote(run(rma(yi, vi, data = smd_ls, method = .(meth))))),
          "normand1999_SMD_LS")
}
add_rma("normand1999_SMD_REML_knha",
        run(rma(yi, vi, data = smd_ls, method = "REML", test = "knha")),
        "normand1999_SMD_LS")
for (grp in c("random", "alternate", "systematic")) {
  add_rma(paste0("bcg_RR_REML_alloc_", grp),
          eval(bquote(run(rma(yi, vi, data = bcg_rr, subset = alloc == .(grp),
                              method = "REML")))),
          "bcg_RR")
}

result <- list(
  generator = "tests/reference/metafor_escalc.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  escalc = escalc_cases,
  revman5 = revman_cases,
  fivenum = fivenum_ref,
  bcg_alloc = as.character(bcg$alloc),
  rma = rma_cases
)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           out_path)
cat("wrote", out_path, "\n")
