# Reference fits from lme4 for tests/imputer/mixed/test_lme4.py (CI has no R, so the
# outputs of this script are committed next to it).
#
# Run from anywhere:  Rscript tests/data/lme4/make_fixtures.R
# Needs: R >= 4, lme4, jsonlite (Debian: r-cran-lme4 r-cran-jsonlite).
#
# Writes, next to this script:
#   dyestuff2.csv, pastes.csv    lme4's Dyestuff2 and Pastes (data we did not have yet)
#   <model>.json                 one file per model (dyestuff, dyestuff2, penicillin,
#                                pastes, sleepstudy) with, for REML and for ML:
#                                variance components by name, theta, sigma, fixed effects
#                                and their covariance, logLik, deviance, AIC, BIC, the BLUPs
#                                (ranef), lme4's conditional variances (attr "postVar" of
#                                ranef(condVar = TRUE)) and Henderson's prediction error
#                                variances (see below), fitted values.
#   sessionInfo.txt              R and package versions.
#
# Every model is fitted from the CSV files the Python tests read (tests/data/*.csv and
# the two written here), after checking that they equal lme4's own copies.
#
# Two fits per method:
#   "REML"/"ML": tight control -- lmerControl(optimizer = "bobyqa",
#                optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5)); these are
#                the optimum to (near) machine precision and what the tests compare to.
#   "REML_default"/"ML_default": lme4's default control (nloptwrap), what users see;
#                kept to document how far lme4's default stopping rule is from the optimum.
#
# Conditional variances: lme4's postVar is Var(b | y) with beta fixed at its estimate,
#   sigma^2 * Lambda (L L')^-1 Lambda'. Henderson's prediction error variance
#   PEV = Var(b - b_hat) also carries the uncertainty of beta_hat: it is the random-effect
#   block of sigma^2 * C^-1 with C the mixed-model-equation matrix
#   [X'X, X'Z; Z'X, Z'Z + sigma^2 G^-1], computed as G - G Z' P Z G (valid on the
#   boundary too, where it is 0). Both are written ("post_var", "pev").
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."
data_dir <- normalizePath(file.path(here, ".."))

# ---- data ---------------------------------------------------------------------------
write.csv(Dyestuff2, file.path(here, "dyestuff2.csv"), row.names = FALSE)
write.csv(Pastes[, c("strength", "batch", "cask", "sample")],
          file.path(here, "pastes.csv"), row.names = FALSE)

read <- function(path) read.csv(path, stringsAsFactors = TRUE)
datasets <- list(
  dyestuff = read(file.path(data_dir, "dyestuff.csv")),
  dyestuff2 = read(file.path(here, "dyestuff2.csv")),
  penicillin = read(file.path(data_dir, "penicillin.csv")),
  pastes = read(file.path(here, "pastes.csv")),
  sleepstudy = read(file.path(data_dir, "sleepstudy.csv"))
)
datasets$sleepstudy$Subject <- factor(datasets$sleepstudy$Subject)
same <- function(a, b) isTRUE(all.equal(a, b, check.attributes = FALSE, tolerance = 1e-12))
stopifnot(
  same(datasets$dyestuff$Yield, Dyestuff$Yield),
  same(as.character(datasets$dyestuff$Batch), as.character(Dyestuff$Batch)),
  same(datasets$dyestuff2$Yield, Dyestuff2$Yield),
  same(datasets$penicillin$diameter, Penicillin$diameter),
  same(as.character(datasets$penicillin$plate), as.character(Penicillin$plate)),
  same(as.character(datasets$penicillin$sample), as.character(Penicillin$sample)),
  same(datasets$pastes$strength, Pastes$strength),
  same(datasets$sleepstudy$Reaction, sleepstudy$Reaction),
  same(datasets$sleepstudy$Days, sleepstudy$Days),
  same(as.character(datasets$sleepstudy$Subject), as.character(sleepstudy$Subject))
)

models <- list(
  dyestuff = list(file = "dyestuff.csv", formula = "Yield ~ 1 + (1 | Batch)"),
  dyestuff2 = list(file = "lme4/dyestuff2.csv", formula = "Yield ~ 1 + (1 | Batch)"),
  penicillin = list(file = "penicillin.csv", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  pastes = list(file = "lme4/pastes.csv", formula = "strength ~ 1 + (1 | batch) + (1 | batch:cask)"),
  sleepstudy = list(file = "sleepstudy.csv", formula = "Reaction ~ Days + (1 | Subject)")
)

tight <- lmerControl(optimizer = "bobyqa",
                     optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5),
                     check.conv.singular = "ignore")
tight_desc <- 'lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5))'

named <- function(x, nm) { x <- as.list(as.numeric(x)); names(x) <- nm; x }

summarise_fit <- function(fit, control) {
  vc <- as.data.frame(VarCorr(fit))
  vc <- vc[is.na(vc$var2), ]
  sigma2 <- sigma(fit)^2
  re <- ranef(fit, condVar = TRUE)
  # Henderson's PEV at the estimate, in the marginal form that also holds on the boundary
  # (G singular): Var(b - b_hat) = G - G Z' P Z G, P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1,
  # which equals the random-effect block of sigma^2 C^-1 when G is invertible.
  X <- getME(fit, "X"); Z <- as.matrix(getME(fit, "Z"))
  Lambda <- as.matrix(getME(fit, "Lambda"))
  G <- sigma2 * Lambda %*% t(Lambda)             # Var(b)
  V <- Z %*% G %*% t(Z) + diag(sigma2, nrow(Z))
  Vi <- solve(V)
  ViX <- Vi %*% X
  P <- Vi - ViX %*% solve(t(X) %*% ViX, t(ViX))
  pev_all <- diag(G - G %*% t(Z) %*% P %*% Z %*% G)
  blups <- list(); post_var <- list(); pev <- list()
  for (g in names(re)) {
    levs <- rownames(re[[g]])
    blups[[g]] <- named(re[[g]][, 1], levs)
    post_var[[g]] <- named(attr(re[[g]], "postVar")[1, 1, ], levs)
  }
  # PEV in Z's column order: getME(fit, "Ztlist") gives the blocks in term order
  zt <- getME(fit, "Ztlist")
  start <- 0
  for (nm in names(zt)) {
    g <- sub("\\.\\(Intercept\\)$", "", nm)
    q <- nrow(zt[[nm]])
    pev[[g]] <- named(pev_all[start + seq_len(q)], rownames(zt[[nm]]))
    start <- start + q
  }
  list(
    control = control,
    reml = isREML(fit),
    var_comp = named(vc$vcov, ifelse(is.na(vc$var1), "Residual", vc$grp)),
    theta = as.list(getME(fit, "theta")),
    sigma = sigma(fit),
    fixef = as.list(fixef(fit)),
    vcov_fixef = unname(as.matrix(vcov(fit))),
    loglik = as.numeric(logLik(fit)),
    df = attr(logLik(fit), "df"),
    deviance = if (isREML(fit)) as.numeric(REMLcrit(fit)) else as.numeric(deviance(fit)),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    singular = isSingular(fit),
    feval = fit@optinfo$feval,
    ranef = blups,
    post_var = post_var,
    pev = pev,
    fitted = as.numeric(fitted(fit))
  )
}

for (name in names(models)) {
  m <- models[[name]]
  d <- datasets[[name]]
  f <- as.formula(m$formula)
  out <- list(
    model = name,
    data = m$file,
    formula = m$formula,
    n = nrow(d),
    lme4_version = as.character(packageVersion("lme4")),
    REML = summarise_fit(lmer(f, d, REML = TRUE, control = tight), tight_desc),
    ML = summarise_fit(lmer(f, d, REML = FALSE, control = tight), tight_desc),
    REML_default = summarise_fit(lmer(f, d, REML = TRUE), "lme4 default (lmerControl())"),
    ML_default = summarise_fit(lmer(f, d, REML = FALSE), "lme4 default (lmerControl())")
  )
  writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), pretty = TRUE, na = "null"),
             file.path(here, paste0(name, ".json")))
  cat(sprintf("%-11s REML logLik %.10f  ML logLik %.10f\n", name, out$REML$loglik, out$ML$loglik))
}

writeLines(capture.output(sessionInfo()), file.path(here, "sessionInfo.txt"))
