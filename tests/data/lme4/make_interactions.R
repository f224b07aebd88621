# Reference fits with fixed-effect interactions and polynomial contrasts from lme4, for
# tests/imputer/mixed/test_lme4_interactions.py (CI has no R, so the outputs are committed).
#
# Run from anywhere:  Rscript tests/data/lme4/make_interactions.R
# Needs: R >= 4, lme4, jsonlite.
#
# Writes, next to this script:
#   cake.csv                       lme4's cake (recipe, replicate, temperature, temp, angle)
#   interactions_<model>.json      one file per model, REML fit
#   interactions_contr_poly.json   contr.poly(6) and its column names
#   interactions_toy.csv, interactions_model_matrix.json
#                                  model.matrix() of 15 fixed-effect formulas on a 12-row table
#                                  (R's coding rules: marginality, no intercept, ordered factors)
#   interactions_sessionInfo.txt   R and package versions
#
# Models:
#   cake_poly       angle ~ recipe * temperature + (1 | recipe:replicate)
#                   temperature is an ordered factor: R codes it by contr.poly (.L .Q .C ^4 ^5),
#                   recipe by contr.treatment; interaction columns recipeB:temperature.L, ...
#   cake_treatment  angle ~ recipe * temperature + (1 | recipe:replicate)
#                   temperature as an unordered factor: treatment coding, factor x factor
#   orthodont_int   distance ~ age * Sex + (age | Subject)     numeric x factor (orthodont.csv)
#   cake_numeric    angle ~ recipe * temp + temp:replicate_n + (1 | recipe:replicate)
#                   factor x numeric and numeric x numeric (replicate_n = replicate as a number)
#
# Control: bobyqa with rhoend 1e-12 (as make_slopes_fixtures.R).
# For every fit: fixef, their standard errors and vcov, the variance components
# (covariances by term, sigma^2), the REML log-likelihood (with constants), and the
# fixed-effect model matrix's column names and the contrasts used.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."

ck <- data.frame(recipe = as.character(cake$recipe), replicate = as.integer(as.character(cake$replicate)),
                 temperature = as.integer(as.character(cake$temperature)), temp = cake$temp,
                 angle = cake$angle)
write.csv(ck, file.path(here, "cake.csv"), row.names = FALSE)

ck <- read.csv(file.path(here, "cake.csv"), stringsAsFactors = FALSE)
stopifnot(isTRUE(all.equal(ck$angle, as.numeric(cake$angle))))
cake_ord <- data.frame(angle = ck$angle, recipe = factor(ck$recipe), replicate = factor(ck$replicate),
                       temperature = factor(ck$temperature, ordered = TRUE))
stopifnot(is.ordered(cake_ord$temperature), identical(levels(cake_ord$temperature), levels(cake$temperature)))
cake_trt <- cake_ord
cake_trt$temperature <- factor(ck$temperature, ordered = FALSE)
cake_num <- data.frame(angle = ck$angle, recipe = factor(ck$recipe), replicate = factor(ck$replicate),
                       temp = ck$temp, replicate_n = ck$replicate)
orth <- read.csv(file.path(here, "orthodont.csv"), stringsAsFactors = TRUE)

models <- list(
  cake_poly = list(data = cake_ord, file = "lme4/cake.csv",
                   formula = "angle ~ recipe * temperature + (1 | recipe:replicate)"),
  cake_treatment = list(data = cake_trt, file = "lme4/cake.csv",
                        formula = "angle ~ recipe * temperature + (1 | recipe:replicate)"),
  orthodont_int = list(data = orth, file = "lme4/orthodont.csv",
                       formula = "distance ~ age * Sex + (age | Subject)"),
  cake_numeric = list(data = cake_num, file = "lme4/cake.csv",
                      formula = "angle ~ recipe * temp + temp:replicate_n + (1 | recipe:replicate)")
)

tight <- lmerControl(optimizer = "bobyqa",
                     optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5),
                     check.conv.grad = .makeCC("warning", tol = 1e-8, relTol = NULL),
                     check.conv.singular = "ignore")
tight_desc <- paste('lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12,',
                    'maxfun = 1e5), check.conv.grad = .makeCC("warning", tol = 1e-8, relTol = NULL))')

summarise_fit <- function(fit) {
  vc <- VarCorr(fit)
  cov <- lapply(vc, function(m) list(names = colnames(m), data = unname(as.matrix(m)[, , drop = FALSE])))
  X <- getME(fit, "X")
  ctr <- attr(X, "contrasts")
  list(
    control = tight_desc,
    reml = isREML(fit),
    covariances = cov,
    sigma2 = sigma(fit)^2,
    fixef = as.list(fixef(fit)),
    se_fixef = as.list(setNames(sqrt(diag(as.matrix(vcov(fit)))), names(fixef(fit)))),
    vcov_fixef = unname(as.matrix(vcov(fit))),
    loglik = as.numeric(logLik(fit)),
    nobs = nobs(fit),
    ngrps = as.list(ngrps(fit)),
    x_columns = colnames(X),
    contrasts = lapply(ctr, function(c) if (is.character(c)) c else "matrix"),
    messages = c(fit@optinfo$conv$lme4$messages, fit@optinfo$warnings)
  )
}

for (name in names(models)) {
  m <- models[[name]]
  fit <- withCallingHandlers(lmer(as.formula(m$formula), m$data, REML = TRUE, control = tight),
                             warning = function(w) { message(name, ": ", conditionMessage(w)); invokeRestart("muffleWarning") })
  out <- c(list(model = name, data = m$file, formula = m$formula, n = nrow(m$data),
                lme4_version = as.character(packageVersion("lme4"))), list(REML = summarise_fit(fit)))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), pretty = TRUE, na = "null"),
             file.path(here, paste0("interactions_", name, ".json")))
  cat(sprintf("%-16s REML logLik %.10f  p = %d\n", name, out$REML$loglik, length(out$REML$fixef)))
}
# R's orthonormal polynomial contrasts for 6 levels (the coding of cake_poly's temperature)
writeLines(toJSON(list(contr_poly_6 = unname(contr.poly(6)), names = colnames(contr.poly(6))),
                  digits = I(17), pretty = TRUE), file.path(here, "interactions_contr_poly.json"))
# R's model.matrix on a small table, for the coding rules (marginality, no intercept,
# numeric x factor, poly on an ordered factor): formula -> column names and values
toy <- data.frame(a = factor(rep(c("p", "q", "r"), length.out = 12)),
                  b = factor(rep(c("u", "v"), each = 6)),
                  o = factor(rep(c("lo", "mid", "hi", "top"), times = 3), levels = c("lo", "mid", "hi", "top"),
                             ordered = TRUE),
                  x = c(0.5, 1.25, -0.75, 2, 3.5, -1, 0.25, 1.5, 2.75, -2, 0.125, 4),
                  z = c(1, 3, 2, 5, 4, 6, 8, 7, 9, 11, 10, 12))
write.csv(toy, file.path(here, "interactions_toy.csv"), row.names = FALSE)
toy_formulas <- c("~ a + b", "~ a * b", "~ a:b", "~ 0 + a + b", "~ 0 + a:b", "~ x * a", "~ x:a",
                  "~ 0 + x:a", "~ x * z", "~ a * b * x", "~ o", "~ o * a", "~ 0 + o", "~ x + a:x",
                  "~ b:a + a")
mm <- lapply(toy_formulas, function(f) {
  m <- model.matrix(as.formula(f), toy)
  list(formula = f, columns = colnames(m), data = unname(m))
})
writeLines(toJSON(mm, auto_unbox = TRUE, digits = I(17), pretty = TRUE),
           file.path(here, "interactions_model_matrix.json"))
writeLines(capture.output(sessionInfo()), file.path(here, "interactions_sessionInfo.txt"))
