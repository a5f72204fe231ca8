# Reference values for the multiverse of analytic choices (analysis.multiverse), computed
# independently with metafor from the numbers of the real trials as stored in data/.
#
# Run from the repository root:
#   Rscript tests/reference/metafor_multiverse.R
# It writes tests/reference/metafor_multiverse.json. The inputs are typed in below from
# data/outcomes.csv, data/arms.csv, data/studies.csv and data/between_group.csv (this
# script does not read data/), and the choices from analysis/multiverse_factors.toml.
#
# Sections:
#   effects  every data choice for each trial, window and measure:
#            Gudeman 1997, Maryland Foot Score change, dexamethasone vs placebo:
#              end of treatment 6.8 (SD 5.6) vs 3.1 (SD 4.1); one month after 7.4 (6.3)
#              vs 5.6 (8.0); feet per arm 20/20 as recorded or 26/14; the Cochrane
#              review's printed MD 3.80 (end of treatment only) in place of 6.8 - 3.1;
#              40 feet from 39 patients (recorded) or 20 (both feet); design effect
#              DE = 1 + (40 / patients - 1) * ICC, each arm's n divided by DE
#              (Cochrane Handbook 23.1.4), ICC 0, 0.25, 0.5, 0.75, 1.
#            Nirschl 2003, pain VAS mean improvement, 23 vs 14 mm (p = 0.012) and 24 vs
#              19 mm (p = 0.249), n 99 vs 100: SE of the MD = |MD| / qt(1 - p/2, 197) or
#              |MD| / qnorm(1 - p/2); pooled SD = SE / sqrt(1/99 + 1/100) in both arms.
#            MD: escalc(measure = "MD", vtype = "LS"). SMD: escalc(measure = "SMD",
#              vtype = "LS" or "UB"); RevMan 5's SMD is not in metafor 3.8.1, so it is
#              written out from Deeks & Higgins (2010): g = (1 - 3 / (4N - 9)) d,
#              v = 1/n1 + 1/n2 + g^2 / (2 (N - 3.94)).
#   pooled   the two trials pooled (elbow trial in, SMD) under every model of the grid:
#            rma(method = FE | REML | DL | PM | ML | HE | SJ, test = "z" | "knha"; no
#            Hartung-Knapp with FE), for every SMD variance x p-to-SE distribution, in two
#            scenarios of the other data choices: the project's defaults (arm means,
#            20/20, ICC 0) and the alternatives together (printed MD, 26/14, ICC 0.5,
#            every patient both feet).

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

out_path <- file.path("tests", "reference", "metafor_multiverse.json")

num <- function(x) {
  x <- as.numeric(x)
  x[!is.finite(x)] <- NA
  x
}

smd <- function(m1, sd1, n1, m2, sd2, n2, vtype) {
  if (vtype == "RevMan5") {
    N <- n1 + n2
    sp <- sqrt(((n1 - 1) * sd1^2 + (n2 - 1) * sd2^2) / (N - 2))
    g <- (1 - 3 / (4 * N - 9)) * (m1 - m2) / sp
    return(list(yi = g, vi = 1 / n1 + 1 / n2 + g^2 / (2 * (N - 3.94)),
                call = "RevMan 5 (Deeks & Higgins 2010): g = (1 - 3/(4N - 9)) d, v = 1/n1 + 1/n2 + g^2/(2(N - 3.94))"))
  }
  e <- escalc(measure = "SMD", m1i = m1, sd1i = sd1, n1i = n1, m2i = m2, sd2i = sd2,
              n2i = n2, vtype = vtype)
  list(yi = e$yi[1], vi = e$vi[1],
       call = sprintf("escalc(measure = \"SMD\", m1i, sd1i, n1i, m2i, sd2i, n2i, vtype = \"%s\")",
                      vtype))
}

md <- function(m1, sd1, n1, m2, sd2, n2) {
  e <- escalc(measure = "MD", m1i = m1, sd1i = sd1, n1i = n1, m2i = m2, sd2i = sd2,
              n2i = n2, vtype = "LS")
  list(yi = e$yi[1], vi = e$vi[1],
       call = "escalc(measure = \"MD\", m1i, sd1i, n1i, m2i, sd2i, n2i, vtype = \"LS\")")
}

vtypes <- c("LS", "UB", "RevMan5")
p_dists <- c("t", "normal")
md_sources <- c("arm means", "printed")
splits <- list("as recorded" = c(20, 20), "26/14" = c(26, 14))
iccs <- c("0", "0.25", "0.5", "0.75", "1")
patient_counts <- c("recorded" = 39, "both feet" = 20)
feet <- 40

gudeman <- list(
  end_of_treatment = list(m1 = 6.8, sd1 = 5.6, m2 = 3.1, sd2 = 4.1, printed = 3.80),
  about_one_month = list(m1 = 7.4, sd1 = 6.3, m2 = 5.6, sd2 = 8.0, printed = NA)
)
nirschl <- list(
  end_of_treatment = list(m1 = 23, m2 = 14, n1 = 99, n2 = 100, p = 0.012),
  about_one_month = list(m1 = 24, m2 = 19, n1 = 99, n2 = 100, p = 0.249)
)

gudeman_effect <- function(w, measure, vtype, source, split, icc, patients) {
  d <- gudeman[[w]]
  de <- 1 + (feet / patient_counts[[patients]] - 1) * as.numeric(icc)
  n1 <- splits[[split]][1] / de
  n2 <- splits[[split]][2] / de
  m1 <- d$m1
  m2 <- d$m2
  if (source == "printed" && !is.na(d$printed)) {
    m1 <- d$printed
    m2 <- 0
  }
  e <- if (measure == "MD") md(m1, d$sd1, n1, m2, d$sd2, n2) else
    smd(m1, d$sd1, n1, m2, d$sd2, n2, vtype)
  c(e, list(inputs = list(m1i = m1, sd1i = d$sd1, n1i = n1, m2i = m2, sd2i = d$sd2,
                          n2i = n2, design_effect = de)))
}

nirschl_effect <- function(w, measure, vtype, p_dist) {
  d <- nirschl[[w]]
  q <- if (p_dist == "t") qt(1 - d$p / 2, df = d$n1 + d$n2 - 2) else qnorm(1 - d$p / 2)
  se <- abs(d$m1 - d$m2) / q
  sd <- se / sqrt(1 / d$n1 + 1 / d$n2)
  e <- if (measure == "MD") md(d$m1, sd, d$n1, d$m2, sd, d$n2) else
    smd(d$m1, sd, d$n1, d$m2, sd, d$n2, vtype)
  c(e, list(inputs = list(m1i = d$m1, sd1i = sd, n1i = d$n1, m2i = d$m2, sd2i = sd,
                          n2i = d$n2, p = d$p,
                          se_call = sprintf("abs(m1i - m2i) / %s",
                                            if (p_dist == "t") "qt(1 - p/2, df = n1i + n2i - 2)"
                                            else "qnorm(1 - p/2)"))))
}

effects <- list()
for (w in names(gudeman)) {
  for (measure in c("MD", "SMD")) {
    for (vtype in if (measure == "SMD") vtypes else "LS") {
      for (source in md_sources) for (split in names(splits)) for (icc in iccs)
        for (patients in names(patient_counts)) {
          e <- gudeman_effect(w, measure, vtype, source, split, icc, patients)
          effects[[length(effects) + 1L]] <- list(
            study_id = "gudeman1997", window = w, measure = measure, smd_variance = vtype,
            p_to_se = NA, mean_difference_source = source, feet_split = split,
            feet_icc = icc, patients = patients, call = e$call, inputs = e$inputs,
            yi = num(e$yi), vi = num(e$vi))
        }
      for (p_dist in p_dists) {
        e <- nirschl_effect(w, measure, vtype, p_dist)
        effects[[length(effects) + 1L]] <- list(
          study_id = "nirschl2003", window = w, measure = measure, smd_variance = vtype,
          p_to_se = p_dist, mean_difference_source = NA, feet_split = NA, feet_icc = NA,
          patients = NA, call = e$call, inputs = e$inputs, yi = num(e$yi), vi = num(e$vi))
      }
    }
  }
}

scenarios <- list(
  defaults = list(source = "arm means", split = "as recorded", icc = "0", patients = "recorded"),
  alternatives = list(source = "printed", split = "26/14", icc = "0.5", patients = "both feet")
)
models <- list(list(method = "FE", test = "z"))
for (m in c("REML", "DL", "PM", "ML", "HE", "SJ")) for (t in c("z", "knha"))
  models[[length(models) + 1L]] <- list(method = m, test = t)

pooled <- list()
for (w in names(gudeman)) for (vtype in vtypes) for (p_dist in p_dists)
  for (sc in names(scenarios)) {
    s <- scenarios[[sc]]
    g <- gudeman_effect(w, "SMD", vtype, s$source, s$split, s$icc, s$patients)
    n <- nirschl_effect(w, "SMD", vtype, p_dist)
    yi <- c(g$yi, n$yi)
    vi <- c(g$vi, n$vi)
    for (m in models) {
      fit <- rma(yi = yi, vi = vi, method = m$method, test = m$test)
      pooled[[length(pooled) + 1L]] <- list(
        window = w, smd_variance = vtype, p_to_se = p_dist, scenario = sc,
        mean_difference_source = s$source, feet_split = s$split, feet_icc = s$icc,
        patients = s$patients, tau2_estimator = m$method,
        ci_method = if (m$test == "knha") "Hartung-Knapp" else "Wald",
        call = sprintf("rma(yi = c(%.17g, %.17g), vi = c(%.17g, %.17g), method = \"%s\", test = \"%s\")",
                       yi[1], yi[2], vi[1], vi[2], m$method, m$test),
        estimate = num(fit$b), se = num(fit$se), ci_lb = num(fit$ci.lb),
        ci_ub = num(fit$ci.ub), pval = num(fit$pval), tau2 = num(fit$tau2))
    }
  }

result <- list(
  generator = "tests/reference/metafor_multiverse.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  effects = effects,
  pooled = pooled
)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           out_path)
cat("wrote", out_path, ":", length(effects), "effects,", length(pooled), "pooled\n")
