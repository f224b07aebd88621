# Reference values of Rubin's rules from R's mice (pool, pool.scalar, summary.mipo,
# confint.mipo) for tests/imputer/mi/test_pool.py (CI has no R, so the output of this
# script is committed next to it).
#
# Run from anywhere:  Rscript tests/data/mice/make_pool_fixtures.R
# Needs: R >= 4, mice >= 3.13, jsonlite (Debian: r-cran-mice r-cran-jsonlite).
#
# Writes, next to this script:
#   pool.json         one entry per case (below), each with the input the Python
#                     function takes and what mice answers:
#                       terms, m, dfcom (number, "Inf" or null), conf_level,
#                       estimates (m x k, row = imputation), variances (m x k: the
#                       squared standard errors mice pools), covariances (m x k x k, or
#                       null), pooled (mice's pool()$pooled columns: estimate, ubar, b,
#                       t, dfcom, df, riv, lambda, fmi), summary (summary(pool(.),
#                       conf.int = TRUE, conf.level = conf_level): std.error,
#                       statistic, p.value, conf.low, conf.high), cov (total covariance
#                       Ubar + (1 + 1/m) B, only for cases with covariances; mice does not
#                       report it, so it is computed here from that formula with R's
#                       cov()), scalar (pool.scalar's qbar, ubar, b, t, df, r, fmi for the
#                       one-term cases, which also go through pool()).
#   sessionInfo.txt   R and package versions.
#
# Non-finite numbers are written as the strings "NaN", "Inf", "-Inf" (jsonlite
# na = "string"); all doubles with 17 significant digits (sprintf("%.17g"), which
# round-trips them: jsonlite's digits stop at 15).
#
# Cases:
#   scalar_inf       one scalar, m = 5, pool.scalar(n = Inf): Rubin's 1987 df
#   scalar_n30       the same with n = 30, k = 1 (dfcom = 29): Barnard-Rubin df
#   scalar_m2        one scalar, m = 2, n = 12, k = 2 (dfcom = 10)
#   nhanes_lm        lm(chl ~ age + bmi) on mice(nhanes, m = 5, seed = 1); dfcom from
#                    the fit (df.residual = 25 - 3 = 22)
#   nhanes_lm_inf    the same analyses pooled with dfcom = Inf
#   nhanes_lm_90     the same analyses, dfcom from the fit, 90% intervals
#   nhanes_m2        lm(bmi ~ age + chl) on mice(nhanes, m = 2, seed = 7), dfcom from fit
#   made_b0          made-up analyses, m = 4, three terms, the second estimated
#                    identically in every imputation (b = 0: mice's lambda floor of 1e-4
#                    inside the df), dfcom = 50
#   made_b0_inf      the same with dfcom = Inf
#   made_ubar0       made-up analyses, m = 3, one term with zero within-imputation
#                    variance (lambda = 1: df = 0 with dfcom; summary.mipo computes the
#                    p-value on max(df, 0.001) df), dfcom = 10
# The made-up analyses go through mice::pool as a list of objects of class
# "fixed_analysis" with a broom tidy() method that returns the given estimates and
# standard errors (mice's pool() only reads tidy()'s term, estimate, std.error).
suppressPackageStartupMessages({
  library(mice)
  library(jsonlite)
  library(generics)
})

self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."

# ---- made-up analyses through mice::pool -------------------------------------------
fixed_analysis <- function(estimate, variance, terms) {
  structure(list(estimate = estimate, std.error = sqrt(variance), terms = terms),
            class = "fixed_analysis")
}
tidy.fixed_analysis <- function(x, ...) {
  data.frame(term = x$terms, estimate = x$estimate, std.error = x$std.error,
             stringsAsFactors = FALSE)
}
registerS3method("tidy", "fixed_analysis", tidy.fixed_analysis,
                 envir = asNamespace("generics"))

# ---- one case ------------------------------------------------------------------------
num <- function(x) unname(as.numeric(x))
wire_dfcom <- function(dfcom) {
  if (is.null(dfcom)) NULL else if (is.infinite(dfcom)) unbox("Inf") else unbox(dfcom)
}

# est: m x k matrix, vars: m x k matrix (squared standard errors), covs: list of m k x k
# matrices or NULL, analyses: what mice::pool gets
run_case <- function(analyses, est, vars, covs, dfcom, conf_level = 0.95, scalar = NULL) {
  m <- nrow(est)
  terms <- colnames(est)
  pooled_obj <- if (is.null(dfcom)) pool(analyses) else pool(analyses, dfcom = dfcom)
  p <- pooled_obj$pooled
  stopifnot(identical(as.character(p$term), terms), all(p$m == m))
  s <- summary(pooled_obj, conf.int = TRUE, conf.level = conf_level)
  stopifnot(identical(as.character(s$term), terms))
  ci <- mice:::confint.mipo(pooled_obj, level = conf_level)
  # summary() names the interval columns by percentage ("2.5 %", "97.5 %")
  pct <- names(s)[(ncol(s) - 1):ncol(s)]
  stopifnot(grepl("%$", pct))
  s$conf.low <- s[[pct[1]]]
  s$conf.high <- s[[pct[2]]]
  stopifnot(identical(num(ci[, 1]), num(s$conf.low)), identical(num(ci[, 2]), num(s$conf.high)))
  used_dfcom <- p$dfcom[1]
  out <- list(
    terms = I(terms),
    m = unbox(m),
    dfcom = if (is.infinite(used_dfcom)) unbox("Inf") else unbox(used_dfcom),
    conf_level = unbox(conf_level),
    estimates = unname(est),
    variances = unname(vars),
    covariances = if (is.null(covs)) NULL else lapply(covs, unname),
    pooled = lapply(p[c("estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi")], num),
    summary = lapply(s[c("estimate", "std.error", "statistic", "df", "p.value",
                         "conf.low", "conf.high")], num),
    cov = NULL,
    scalar = scalar
  )
  if (!is.null(covs)) {
    ubar <- Reduce(`+`, covs) / m
    total <- ubar + (1 + 1 / m) * cov(est)
    stopifnot(isTRUE(all.equal(num(diag(total)), num(p$t), tolerance = 1e-12)))
    out$cov <- unname(total)
  }
  out
}

lm_case <- function(imp, formula, dfcom = NULL, conf_level = 0.95) {
  fit <- with(imp, lm(as.formula(formula)))
  fits <- getfit(fit)
  est <- t(sapply(fits, coef))
  covs <- lapply(fits, vcov)
  vars <- t(sapply(covs, diag))
  colnames(vars) <- colnames(est)
  run_case(fit, est, vars, covs, dfcom, conf_level)
}

made_case <- function(est, vars, dfcom, conf_level = 0.95) {
  analyses <- lapply(seq_len(nrow(est)), function(l)
    fixed_analysis(est[l, ], vars[l, ], colnames(est)))
  run_case(analyses, est, vars, NULL, dfcom, conf_level)
}

scalar_case <- function(q, u, n = Inf, k = 1) {
  sc <- pool.scalar(q, u, n = n, k = k)
  est <- matrix(q, ncol = 1, dimnames = list(NULL, "estimate"))
  vars <- matrix(u, ncol = 1, dimnames = list(NULL, "estimate"))
  out <- made_case(est, vars, dfcom = n - k)
  out$scalar <- lapply(sc[c("qbar", "ubar", "b", "t", "df", "r", "fmi")], function(v) unbox(num(v)))
  # pool.scalar and pool agree (same formulas, two code paths in mice)
  stopifnot(isTRUE(all.equal(num(sc$df), out$pooled$df, tolerance = 1e-12)),
            isTRUE(all.equal(num(sc$fmi), out$pooled$fmi, tolerance = 1e-12)))
  out
}

# ---- cases -----------------------------------------------------------------------------
cases <- list()

cases$scalar_inf <- scalar_case(c(1.02, 0.87, 1.21, 0.95, 1.10), c(0.041, 0.052, 0.047, 0.039, 0.050))
cases$scalar_n30 <- scalar_case(c(1.02, 0.87, 1.21, 0.95, 1.10), c(0.041, 0.052, 0.047, 0.039, 0.050),
                                n = 30, k = 1)
cases$scalar_m2 <- scalar_case(c(-3.4, -2.1), c(0.8, 1.1), n = 12, k = 2)

imp5 <- mice(nhanes, m = 5, seed = 1, print = FALSE)
cases$nhanes_lm <- lm_case(imp5, "chl ~ age + bmi")
cases$nhanes_lm_inf <- lm_case(imp5, "chl ~ age + bmi", dfcom = Inf)
cases$nhanes_lm_90 <- lm_case(imp5, "chl ~ age + bmi", conf_level = 0.90)

imp2 <- mice(nhanes, m = 2, seed = 7, print = FALSE)
cases$nhanes_m2 <- lm_case(imp2, "bmi ~ age + chl")

b0_est <- matrix(c(0.50, 2.0, -1.30,
                   0.62, 2.0, -1.10,
                   0.41, 2.0, -1.45,
                   0.55, 2.0, -1.21), nrow = 4, byrow = TRUE,
                 dimnames = list(NULL, c("x", "const", "z")))
b0_var <- matrix(c(0.010, 0.25, 0.090,
                   0.012, 0.25, 0.080,
                   0.011, 0.25, 0.100,
                   0.009, 0.25, 0.085), nrow = 4, byrow = TRUE,
                 dimnames = list(NULL, colnames(b0_est)))
stopifnot(var(b0_est[, "const"]) == 0)
cases$made_b0 <- made_case(b0_est, b0_var, dfcom = 50)
cases$made_b0_inf <- made_case(b0_est, b0_var, dfcom = Inf)

u0_est <- matrix(c(3.0, 10.5,
                   3.4, 10.1,
                   2.9, 10.8), nrow = 3, byrow = TRUE, dimnames = list(NULL, c("a", "b")))
u0_var <- matrix(c(0, 0.30,
                   0, 0.25,
                   0, 0.35), nrow = 3, byrow = TRUE, dimnames = list(NULL, c("a", "b")))
cases$made_ubar0 <- made_case(u0_est, u0_var, dfcom = 10)

# doubles as verbatim JSON with 17 significant digits (jsonlite itself stops at 15)
g17 <- function(x) ifelse(is.finite(x), sprintf("%.17g", x),
                          paste0('"', ifelse(is.nan(x), "NaN", ifelse(x > 0, "Inf", "-Inf")), '"'))
exact <- function(x) {
  if (is.list(x)) return(lapply(x, exact))
  if (!is.double(x)) return(x)
  if (is.matrix(x)) return(lapply(seq_len(nrow(x)), function(i) exact(x[i, ])))
  text <- g17(as.numeric(x))
  json <- if (inherits(x, "scalar")) text else paste0("[", paste(text, collapse = ", "), "]")
  structure(json, class = "json")
}
write_json(exact(cases), file.path(here, "pool.json"), json_verbatim = TRUE, pretty = TRUE,
           null = "null")
writeLines(capture.output(sessionInfo()), file.path(here, "sessionInfo.txt"))
