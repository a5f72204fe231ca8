# Reference values for analysis.catchup (does the placebo group catch up?), from metafor.
#
# Run from the repository root:
#   Rscript tests/reference/catchup_reference.R
# It writes tests/reference/catchup_reference.json; every result records the R call that
# made it and its inputs, with R's and metafor's versions, so the tests run without R.
# The trial numbers are typed in below from data/outcomes.csv, data/arms.csv and
# data/between_group.csv (this script does not read data/).
#
# Sections:
#   vcalc        Var(MD2 - MD1) and Var(g2 - g1) from metafor's vcalc(), which builds the
#                covariance of two estimates of one trial at two time points:
#                * MD, arm level: grp1 = treatment, grp2 = control, time1 = time2 = 1, 2,
#                  w1 = n_t / sd_t^2, w2 = n_c / sd_c^2 at each time, phi = rho, giving
#                  Cov = rho (sd_t1 sd_t2 / n_t + sd_c1 sd_c2 / n_c);
#                * MD and SMD, correlated estimates: time1 = 1, 2 and phi = rho only, giving
#                  Cov = rho sqrt(v1 v2).
#                Gudeman 1997 (Maryland Foot Score change; 6.8 (5.6) vs 3.1 (4.1) at the end
#                of treatment, 7.4 (6.3) vs 5.6 (8.0) one month after, n 20/20) and
#                Nirschl 2003 (pain VAS improvement, 23 vs 14 (p = 0.012) at 2 days and
#                24 vs 19 (p = 0.249) at 1 month, n 99/100; pooled SD recovered from p with
#                t, 197 df, as analysis.trial_effects does).
#   gleser_olkin The multiple-endpoint example of Gleser & Olkin (2009) (7 schools, math
#                and reading), as in metafor's own test of that chapter
#                (tests/testthat/test_analysis_example_gleser2009.r): the covariance
#                (1/n1 + 1/n2) r + r^2 d1 d2 / (2 (n1 + n2)) per school, and the
#                multivariate common-effect model rma.mv(yi, V, mods = ~ outcome - 1)
#                on the rounded values, whose QE is 19.62 on page 371 of the chapter.
#   thresholds   Thresholds for a hypothetical trial pooled with Gudeman 1997's SMD
#                (escalc SMD, vtype LS) at each window: n 14/11 (Neeter 2003) and
#                14/14 (Osborne & Allison 2006, 42 feet split equally over three arms,
#                an assumption), under rma(method = "FE"), rma(method = "REML") and
#                rma(method = "REML", test = "knha"). The hypothetical trial has Hedges'
#                g = g and vi = 1/n_t + 1/n_c + g^2 / (2 (n_t + n_c)) (vtype LS). A scan
#                over g = -3, -2.99, ..., 3 brackets every sign change of ci.lb, b and
#                ci.ub, and uniroot (tol 1e-10) refines each; the pooled curve at a few g
#                is stored too. This is an implementation independent of the Python one.
#   tost         Two one-sided tests at one month written out with pnorm / pt, for
#                margins of 15 and 20 mm on Nirschl's VAS (the journal-club summary's
#                MCID range, secondary) and, for Gudeman, a margin of 3 points that is a
#                synthetic test value (no margin for the Maryland Foot Score is sourced),
#                with the smallest margin of each trial.

suppressPackageStartupMessages(library(metafor))
library(jsonlite)

out_path <- file.path("tests", "reference", "catchup_reference.json")

num <- function(x) {
  x <- as.numeric(x)
  x[!is.finite(x)] <- NA
  x
}
run <- function(cl) {
  list(call = paste(trimws(deparse(cl, width.cutoff = 500L)), collapse = " "),
       value = eval(cl, globalenv()))
}

rhos <- c(0, 0.25, 0.5, 0.75, 0.9, 0.95)

# ------------------------------------------------------------------ trials
sd_from_p <- function(md, p, n1, n2) abs(md) / qt(1 - p / 2, n1 + n2 - 2) / sqrt(1 / n1 + 1 / n2)
trials <- list(
  gudeman1997 = list(n_t = 20, n_c = 20,
                     m_t = c(6.8, 7.4), sd_t = c(5.6, 6.3),
                     m_c = c(3.1, 5.6), sd_c = c(4.1, 8.0)),
  nirschl2003 = list(n_t = 99, n_c = 100,
                     m_t = c(23, 24), m_c = c(14, 19),
                     sd_t = c(sd_from_p(9, 0.012, 99, 100), sd_from_p(5, 0.249, 99, 100)),
                     sd_c = c(sd_from_p(9, 0.012, 99, 100), sd_from_p(5, 0.249, 99, 100)))
)

vcalc_cases <- list()
for (sid in names(trials)) {
  tr <- trials[[sid]]
  md <- escalc(measure = "MD", m1i = tr$m_t, sd1i = tr$sd_t, n1i = rep(tr$n_t, 2),
               m2i = tr$m_c, sd2i = tr$sd_c, n2i = rep(tr$n_c, 2), vtype = "LS")
  smd <- escalc(measure = "SMD", m1i = tr$m_t, sd1i = tr$sd_t, n1i = rep(tr$n_t, 2),
                m2i = tr$m_c, sd2i = tr$sd_c, n2i = rep(tr$n_c, 2), vtype = "LS")
  for (rho in rhos) {
    arm <- run(bquote(vcalc(vi = .(num(md$vi)), cluster = c(1, 1), grp1 = c("t", "t"),
                            grp2 = c("c", "c"), time1 = c(1, 2), time2 = c(1, 2),
                            w1 = .(tr$n_t / tr$sd_t^2), w2 = .(tr$n_c / tr$sd_c^2),
                            phi = .(rho))))
    est <- run(bquote(vcalc(vi = .(num(md$vi)), cluster = c(1, 1), time1 = c(1, 2),
                            phi = .(rho))))
    est_smd <- run(bquote(vcalc(vi = .(num(smd$vi)), cluster = c(1, 1), time1 = c(1, 2),
                                phi = .(rho))))
    for (case in list(list(measure = "MD", covariance = "arm_level", r = arm, es = md),
                      list(measure = "MD", covariance = "correlated_estimates", r = est, es = md),
                      list(measure = "SMD", covariance = "correlated_estimates", r = est_smd,
                           es = smd))) {
      V <- as.matrix(case$r$value)
      change <- num(case$es$yi[2] - case$es$yi[1])
      var_change <- V[1, 1] + V[2, 2] - 2 * V[1, 2]
      se <- sqrt(var_change)
      vcalc_cases[[length(vcalc_cases) + 1L]] <- list(
        study_id = sid, measure = case$measure, covariance = case$covariance, rho = rho,
        call = case$r$call, yi = num(case$es$yi), vi = num(case$es$vi),
        v11 = num(V[1, 1]), v22 = num(V[2, 2]), v12 = num(V[1, 2]),
        change = change, var_change = num(var_change),
        ci_lb = num(change - qnorm(0.975) * se), ci_ub = num(change + qnorm(0.975) * se))
    }
  }
}

# ------------------------------------------------------------------ Gleser & Olkin
go <- data.frame(school = c(1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
                 outcome = rep(c("math", "reading"), times = 7),
                 m1i = c(2.3, 2.5, 2.4, 1.3, 2.5, 2.4, 3.3, 1.7, 1.1, 2.0, 2.8, 2.1, 1.7, 0.6),
                 m2i = c(10.3, 6.6, 9.7, 3.1, 8.7, 3.7, 7.5, 8.5, 2.2, 2.1, 3.8, 1.4, 1.8, 3.9),
                 sdpi = c(8.2, 7.3, 8.3, 8.9, 8.5, 8.3, 7.7, 9.8, 9.1, 10.4, 9.6, 7.9, 9.2, 10.2),
                 ri = rep(c(.55, .43, .57, .66, .51, .59, .49), each = 2),
                 n1i = rep(c(22, 21, 26, 18, 38, 42, 39), each = 2),
                 n2i = rep(c(24, 21, 23, 18, 36, 42, 38), each = 2))
go$yi <- round(with(go, (m2i - m1i) / sdpi), 3)
go$vi <- round(with(go, 1 / n1i + 1 / n2i + yi^2 / (2 * (n1i + n2i))), 4)
prod_yi <- rep(sapply(split(go$yi, go$school), prod), each = 2)
go$covi_exact <- with(go, (1 / n1i + 1 / n2i) * ri + (prod_yi / (2 * (n1i + n2i))) * ri^2)
go$covi <- round(go$covi_exact, 4)
V <- bldiag(lapply(split(go, go$school),
                   function(x) matrix(c(x$vi[1], x$covi[1], x$covi[2], x$vi[2]), nrow = 2)))
go_fit <- rma.mv(yi, V, mods = ~ outcome - 1, data = go)
one <- go[go$outcome == "math", ]
two <- go[go$outcome == "reading", ]
gleser_olkin <- list(
  source = paste("Gleser & Olkin (2009), multiple-endpoint example; metafor",
                 "tests/testthat/test_analysis_example_gleser2009.r"),
  covariance_call = "(1/n1i + 1/n2i) * ri + (yi_math * yi_reading / (2 * (n1i + n2i))) * ri^2",
  model_call = "rma.mv(yi, V, mods = ~ outcome - 1) with yi rounded to 3 and vi, covi to 4 decimals",
  school = one$school, n1i = one$n1i, n2i = one$n2i, ri = one$ri,
  yi_math = one$yi, yi_reading = two$yi, vi_math = one$vi, vi_reading = two$vi,
  covi_exact = num(one$covi_exact), covi_rounded = num(one$covi),
  coef = num(coef(go_fit)), vcov = num(as.vector(vcov(go_fit))), QE = num(go_fit$QE),
  QE_chapter = 19.62)

# ------------------------------------------------------------------ thresholds
gud <- trials$gudeman1997
gud_smd <- escalc(measure = "SMD", m1i = gud$m_t, sd1i = gud$sd_t, n1i = c(20, 20),
                  m2i = gud$m_c, sd2i = gud$sd_c, n2i = c(20, 20), vtype = "LS")
windows <- c("end_of_treatment", "about_one_month")
models <- list(list(method = "FE", knha = FALSE), list(method = "REML", knha = FALSE),
               list(method = "REML", knha = TRUE))
sizes <- list(neeter2003 = c(14, 11), osborne2006 = c(14, 14))
fit_at <- function(g, y1, v1, nt, nc, method, knha) {
  vh <- 1 / nt + 1 / nc + g^2 / (2 * (nt + nc))
  rma(yi = c(y1, g), vi = c(v1, vh), method = method, test = if (knha) "knha" else "z")
}
grid <- seq(-3, 3, by = 0.01)
thresholds <- list()
for (sid in names(sizes)) {
  nt <- sizes[[sid]][1]
  nc <- sizes[[sid]][2]
  for (w in seq_along(windows)) {
    y1 <- num(gud_smd$yi[w])
    v1 <- num(gud_smd$vi[w])
    for (mdl in models) {
      fits <- lapply(grid, fit_at, y1 = y1, v1 = v1, nt = nt, nc = nc,
                     method = mdl$method, knha = mdl$knha)
      curves <- list(ci_lb = sapply(fits, function(f) f$ci.lb),
                     estimate = sapply(fits, function(f) as.numeric(f$b)),
                     ci_ub = sapply(fits, function(f) f$ci.ub))
      field <- c(ci_lb = "ci.lb", estimate = "b", ci_ub = "ci.ub")
      roots <- list()
      for (cv in names(curves)) {
        s <- sign(curves[[cv]])
        for (i in which(s[-1] * s[-length(s)] < 0)) {
          f <- function(g) as.numeric(fit_at(g, y1, v1, nt, nc, mdl$method, mdl$knha)[[field[[cv]]]])
          u <- uniroot(f, c(grid[i], grid[i + 1]), tol = 1e-10)
          roots[[length(roots) + 1L]] <- list(curve = cv, g = u$root)
        }
      }
      at <- c(-1, 0, 0.25, 0.5, 1, 2)
      pts <- lapply(at, fit_at, y1 = y1, v1 = v1, nt = nt, nc = nc,
                    method = mdl$method, knha = mdl$knha)
      thresholds[[length(thresholds) + 1L]] <- list(
        study_id = sid, window = windows[w], n_t = nt, n_c = nc, method = mdl$method,
        knha = mdl$knha, yi = y1, vi = v1,
        call = sprintf(paste0("rma(yi = c(%.15g, g), vi = c(%.15g, 1/%g + 1/%g + g^2/(2*%g)), ",
                              "method = \"%s\", test = \"%s\")"),
                       y1, v1, nt, nc, nt + nc, mdl$method, if (mdl$knha) "knha" else "z"),
        roots = roots,
        curve_at = list(g = at, estimate = sapply(pts, function(f) as.numeric(f$b)),
                        ci_lb = sapply(pts, function(f) f$ci.lb),
                        ci_ub = sapply(pts, function(f) f$ci.ub),
                        tau2 = sapply(pts, function(f) f$tau2)))
    }
  }
}

# ------------------------------------------------------------------ TOST
tost_r <- function(est, se, margin, alpha = 0.05, df = NA) {
  if (is.na(df)) {
    p_lower <- pnorm((est + margin) / se, lower.tail = FALSE)
    p_upper <- pnorm((est - margin) / se)
    q <- qnorm(1 - alpha)
  } else {
    p_lower <- pt((est + margin) / se, df, lower.tail = FALSE)
    p_upper <- pt((est - margin) / se, df)
    q <- qt(1 - alpha, df)
  }
  list(p_lower = p_lower, p_upper = p_upper, p_tost = max(p_lower, p_upper),
       ci_lb = est - q * se, ci_ub = est + q * se,
       smallest_margin = max(abs(est - q * se), abs(est + q * se)))
}
nir_se <- abs(5) / qt(1 - 0.249 / 2, 197)
gud_se <- sqrt(6.3^2 / 20 + 8.0^2 / 20)
tost <- list(
  list(study_id = "nirschl2003", estimate = 5, se = nir_se, df = 197, margin = 15,
       call = "tost_r(5, abs(5) / qt(1 - 0.249/2, 197), 15, df = 197)",
       value = tost_r(5, nir_se, 15, df = 197)),
  list(study_id = "nirschl2003", estimate = 5, se = nir_se, df = 197, margin = 20,
       call = "tost_r(5, abs(5) / qt(1 - 0.249/2, 197), 20, df = 197)",
       value = tost_r(5, nir_se, 20, df = 197)),
  list(study_id = "gudeman1997", estimate = 1.8, se = gud_se, df = NA, margin = 3,
       call = "tost_r(1.8, sqrt(6.3^2/20 + 8.0^2/20), 3)",
       value = tost_r(1.8, gud_se, 3)))

result <- list(
  generator = "tests/reference/catchup_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  vcalc = vcalc_cases, gleser_olkin = gleser_olkin, thresholds = thresholds, tost = tost)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           out_path)
cat("wrote", out_path, "\n")
