# Time an lme4 fit on a CSV table and print the result as one JSON line.
#
# Usage: Rscript lme4_fit.R DATA.csv FORMULA REPEATS REML
#   FORMULA: an lme4 formula, e.g. "y ~ x + (1 | g1) + (1 | g2)"
#   REML: TRUE or FALSE
#
# Each repeat times lmer(FORMULA, data, REML = REML) with lme4's default control
# (reading the CSV is not timed; character columns become factors inside lmer).
#
# Output keys: seconds (median), seconds_all, var_comp (object: grouping factor name,
# or "group.term" for terms other than the intercept, then "Residual"; variances),
# var_comp_table (grp/var1/var2/vcov records as in as.data.frame(VarCorr(fit))),
# fixef, loglik, reml, aic, bic, nobs, feval, optimizer, singular, versions.
local({
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) < 2) stop("usage: Rscript lme4_fit.R DATA.csv FORMULA [REPEATS] [REML]")
  path <- args[1]
  form <- as.formula(args[2])
  repeats <- if (length(args) >= 3) as.integer(args[3]) else 3L
  reml <- if (length(args) >= 4) as.logical(args[4]) else TRUE
  self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."
  source(file.path(here, "_json.R"))
  suppressPackageStartupMessages(library(lme4))
  d <- read.csv(path, na.strings = c("", "NA"), check.names = FALSE)
  secs <- numeric(repeats)
  fit <- NULL
  for (i in seq_len(repeats)) {
    secs[i] <- system.time(fit <- lmer(form, data = d, REML = reml))[["elapsed"]]
  }
  vc <- as.data.frame(VarCorr(fit))
  vc <- vc[is.na(vc$var2), , drop = FALSE]  # variances only
  key <- ifelse(is.na(vc$var1) | vc$var1 == "(Intercept)", vc$grp, paste(vc$grp, vc$var1, sep = "."))
  var_comp <- as.list(vc$vcov)
  names(var_comp) <- key
  table <- lapply(seq_len(nrow(vc)), function(i) {
    list(grp = vc$grp[i], var1 = if (is.na(vc$var1[i])) NULL else vc$var1[i], vcov = vc$vcov[i])
  })
  ll <- logLik(fit)
  out <- list(
    seconds = median(secs),
    seconds_all = as.list(secs),
    formula = args[2],
    var_comp = var_comp,
    var_comp_table = table,
    fixef = as.list(fixef(fit)),
    loglik = as.numeric(ll),
    reml = isREML(fit),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    feval = fit@optinfo$feval,
    optimizer = fit@optinfo$optimizer,
    singular = isSingular(fit),
    versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
  )
  cat(to_json(out), "\n", sep = "")
})
