# Reference fits with correlated random slopes from lme4, for
# tests/imputer/mixed/test_lme4_slopes.py (CI has no R, so the outputs are committed).
#
# Run from anywhere:  Rscript tests/data/lme4/make_slopes_fixtures.R
# Needs: R >= 4, lme4, nlme (data sets), jsonlite.
#
# Writes, next to this script:
#   orthodont.csv, oxboys.csv, chickweight.csv   nlme's Orthodont, Oxboys and R's ChickWeight
#   slopes_<model>.json                           one file per model, REML and ML fits
#   slopes_sessionInfo.txt                        R and package versions
#
# Models (sleepstudy is read from tests/data/sleepstudy.csv, checked against lme4's copy):
#   sleepstudy       Reaction ~ Days + (Days | Subject)
#   sleepstudy_diag  Reaction ~ Days + (Days || Subject)
#   orthodont        distance ~ age + Sex + (age | Subject)
#   oxboys           height ~ age + (age | Subject)
#   oxboys_quad      height ~ age + age2 + (age + age2 | Subject)     (age2 = age^2, a 3 x 3 G)
#   chickweight      weight ~ Time + Diet + (Time | Chick)            (unbalanced: 578 rows, 50 chicks)
#   boundary_corr    y ~ x + (x | g) on boundary.csv's y1: simulated with slope = 0.5 x intercept
#                    per group, the optimum has correlation exactly 1 (singular G)
#   boundary_slope   y ~ x + (x | g) on y2: no slope variance simulated; optimum singular
#   boundary_diag    y ~ x + (x || g) on y2: the slope variance is exactly 0
#   boundary.csv is simulated here (set.seed(13); 30 groups of 8, x = 0..7).
#
# Control: bobyqa with rhoend 1e-12 and lme4's gradient check at 1e-8
#   lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5),
#               check.conv.grad = .makeCC("warning", tol = 1e-8, relTol = NULL))
# Any convergence message lme4 gives is written to the fixture ("messages").
#
# For every fit: covariances (term -> matrix labelled by effect, VarCorr), correlations,
# sigma^2, fixef and vcov(fit), logLik (with constants), AIC, BIC, theta, the BLUPs
# (ranef: term -> level -> effect), Henderson's prediction error variances
# diag Var(b - b_hat) = diag(G - G Z' P Z G) (level x effect; see make_fixtures.R),
# and fitted values.
suppressPackageStartupMessages({
  library(lme4)
  library(nlme, include.only = character(0))
  library(jsonlite)
})

self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."
data_dir <- normalizePath(file.path(here, ".."))

orth <- as.data.frame(nlme::Orthodont)
orth <- data.frame(distance = orth$distance, age = orth$age,
                   Subject = as.character(orth$Subject), Sex = as.character(orth$Sex))
write.csv(orth, file.path(here, "orthodont.csv"), row.names = FALSE)
ox <- as.data.frame(nlme::Oxboys)
ox <- data.frame(height = ox$height, age = ox$age, Subject = as.character(ox$Subject))
write.csv(ox, file.path(here, "oxboys.csv"), row.names = FALSE)
cw <- as.data.frame(datasets::ChickWeight)
cw <- data.frame(weight = cw$weight, Time = cw$Time, Chick = as.character(cw$Chick),
                 Diet = as.character(cw$Diet))
write.csv(cw, file.path(here, "chickweight.csv"), row.names = FALSE)

set.seed(13)
bq <- 30; bm <- 8
bnd <- data.frame(g = sprintf("g%02d", rep(seq_len(bq), each = bm)), x = rep(0:(bm - 1), bq))
a <- rnorm(bq, sd = 2)[rep(seq_len(bq), each = bm)]
bnd$y1 <- round(1 + 0.5 * bnd$x + a + 0.5 * a * bnd$x + rnorm(bq * bm), 6)
bnd$y2 <- round(1 + 0.5 * bnd$x + a + rnorm(bq * bm), 6)
write.csv(bnd, file.path(here, "boundary.csv"), row.names = FALSE)

read <- function(path) read.csv(path, stringsAsFactors = TRUE)
sleep <- read(file.path(data_dir, "sleepstudy.csv"))
sleep$Subject <- factor(sleep$Subject)
stopifnot(isTRUE(all.equal(sleep$Reaction, sleepstudy$Reaction)),
          isTRUE(all.equal(sleep$Days, sleepstudy$Days)),
          identical(as.character(sleep$Subject), as.character(sleepstudy$Subject)))
orth <- read(file.path(here, "orthodont.csv"))
ox <- read(file.path(here, "oxboys.csv"))
ox$age2 <- ox$age^2
cw <- read(file.path(here, "chickweight.csv"))
cw$Chick <- factor(cw$Chick)
cw$Diet <- factor(cw$Diet)
bnd <- read(file.path(here, "boundary.csv"))

models <- list(
  sleepstudy = list(data = sleep, file = "sleepstudy.csv", formula = "Reaction ~ Days + (Days | Subject)"),
  sleepstudy_diag = list(data = sleep, file = "sleepstudy.csv", formula = "Reaction ~ Days + (Days || Subject)"),
  orthodont = list(data = orth, file = "lme4/orthodont.csv", formula = "distance ~ age + Sex + (age | Subject)"),
  oxboys = list(data = ox, file = "lme4/oxboys.csv", formula = "height ~ age + (age | Subject)"),
  oxboys_quad = list(data = ox, file = "lme4/oxboys.csv", formula = "height ~ age + age2 + (age + age2 | Subject)"),
  chickweight = list(data = cw, file = "lme4/chickweight.csv", formula = "weight ~ Time + Diet + (Time | Chick)"),
  boundary_corr = list(data = bnd, file = "lme4/boundary.csv", formula = "y1 ~ x + (x | g)"),
  boundary_slope = list(data = bnd, file = "lme4/boundary.csv", formula = "y2 ~ x + (x | g)"),
  boundary_diag = list(data = bnd, file = "lme4/boundary.csv", formula = "y2 ~ x + (x || g)")
)

tight <- lmerControl(optimizer = "bobyqa",
                     optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5),
                     check.conv.grad = .makeCC("warning", tol = 1e-8, relTol = NULL),
                     check.conv.singular = "ignore")
tight_desc <- paste('lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12,',
                    'maxfun = 1e5), check.conv.grad = .makeCC("warning", tol = 1e-8, relTol = NULL))')

matrix_json <- function(m) list(names = colnames(m), data = unname(m))

summarise_fit <- function(fit) {
  vc <- VarCorr(fit)
  sigma2 <- sigma(fit)^2
  # the "||" term is split by lme4 into one term per effect, with names Subject, Subject.1:
  # gather them back by grouping factor into one (diagonal) matrix
  groups <- unique(sub("\\.[0-9]+$", "", names(vc)))
  cov <- list(); cor <- list()
  for (g in groups) {
    parts <- vc[grepl(paste0("^", g, "(\\.[0-9]+)?$"), names(vc))]
    nm <- unlist(lapply(parts, function(m) colnames(m)))
    G <- matrix(0, length(nm), length(nm), dimnames = list(nm, nm))
    at <- 0
    for (m in parts) { k <- ncol(m); G[at + seq_len(k), at + seq_len(k)] <- as.matrix(m)[, ]; at <- at + k }
    cov[[g]] <- matrix_json(G)
    sd <- sqrt(diag(G))
    cor[[g]] <- matrix_json(G / outer(sd, sd))
  }
  re <- ranef(fit)
  X <- getME(fit, "X"); Z <- as.matrix(getME(fit, "Z"))
  Lambda <- as.matrix(getME(fit, "Lambda"))
  Gall <- sigma2 * Lambda %*% t(Lambda)
  V <- Z %*% Gall %*% t(Z) + diag(sigma2, nrow(Z))
  Vi <- solve(V)
  ViX <- Vi %*% X
  P <- Vi - ViX %*% solve(t(X) %*% ViX, t(ViX))
  pev_all <- diag(Gall - Gall %*% t(Z) %*% P %*% Z %*% Gall)
  # Z's columns: term by term, within a term level-major (each level's effects together)
  ranefs <- list(); pev <- list()
  cnms <- getME(fit, "cnms"); flist <- getME(fit, "flist")
  start <- 0
  for (t in seq_along(cnms)) {
    g <- names(cnms)[t]
    levs <- levels(flist[[g]])
    nc <- length(cnms[[t]])
    block <- matrix(pev_all[start + seq_len(nc * length(levs))], ncol = nc, byrow = TRUE,
                    dimnames = list(levs, cnms[[t]]))
    start <- start + nc * length(levs)
    pev[[length(pev) + 1]] <- block
    names(pev)[length(pev)] <- g
  }
  for (g in unique(names(pev))) {
    blocks <- pev[names(pev) == g]
    m <- do.call(cbind, blocks)
    u <- as.matrix(re[[g]])[rownames(m), colnames(m), drop = FALSE]
    ranefs[[g]] <- list(levels = rownames(m), effects = colnames(m), data = unname(u))
    pev[[g]] <- list(levels = rownames(m), effects = colnames(m), data = unname(m))
  }
  pev <- pev[unique(names(pev))]
  list(
    control = tight_desc,
    reml = isREML(fit),
    covariances = cov,
    correlations = cor,
    sigma2 = sigma2,
    theta = as.list(getME(fit, "theta")),
    fixef = as.list(fixef(fit)),
    vcov_fixef = unname(as.matrix(vcov(fit))),
    loglik = as.numeric(logLik(fit)),
    df = attr(logLik(fit), "df"),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    singular = isSingular(fit),
    feval = fit@optinfo$feval,
    messages = c(fit@optinfo$conv$lme4$messages, fit@optinfo$warnings),
    ranef = ranefs,
    pev = pev,
    fitted = as.numeric(fitted(fit))
  )
}

for (name in names(models)) {
  m <- models[[name]]
  f <- as.formula(m$formula)
  fits <- list()
  for (reml in c(TRUE, FALSE)) {
    fit <- withCallingHandlers(lmer(f, m$data, REML = reml, control = tight),
                               warning = function(w) { message(name, ": ", conditionMessage(w)); invokeRestart("muffleWarning") })
    fits[[if (reml) "REML" else "ML"]] <- summarise_fit(fit)
  }
  out <- c(list(model = name, data = m$file, formula = m$formula, n = nrow(m$data),
                lme4_version = as.character(packageVersion("lme4"))), fits)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), pretty = TRUE, na = "null"),
             file.path(here, paste0("slopes_", name, ".json")))
  cat(sprintf("%-16s REML logLik %.10f  ML logLik %.10f  singular %s/%s\n", name,
              out$REML$loglik, out$ML$loglik, out$REML$singular, out$ML$singular))
}

writeLines(capture.output(sessionInfo()), file.path(here, "slopes_sessionInfo.txt"))
