# Reference fits from lme4 for tests/imputer/mixed/test_scotssec.py (issue 13: the
# zero-boundary probe on a small but non-zero component). CI has no R, so the outputs of
# this script are committed next to it.
#
# Run from anywhere:  Rscript tests/data/lme4/make_scotssec_fixtures.R
# Needs: R >= 4, lme4, mlmRev (the ScotsSec data), jsonlite.
#
# Writes, next to this script:
#   scotssec.csv                 mlmRev::ScotsSec (3,435 pupils): attain, verbal, sex,
#                                primary (148 schools), second (19 schools)
#   scotssec.json                attain ~ verbal + sex + (1|primary) + (1|second) +
#                                (1|primary:second), REML and ML, tight bobyqa control:
#                                variance components, theta, fixed effects, logLik, feval
#   scotssec_sessionInfo.txt     R and package versions.
#
# The fit is singular: primary:second's variance is exactly 0 while second's is small
# (0.0145 against 4.25 for the residual) but not 0.
suppressPackageStartupMessages({
  library(lme4)
  library(mlmRev)
  library(jsonlite)
})

self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."

write.csv(ScotsSec[, c("attain", "verbal", "sex", "primary", "second")],
          file.path(here, "scotssec.csv"), row.names = FALSE)
d <- read.csv(file.path(here, "scotssec.csv"), stringsAsFactors = TRUE)
d$primary <- factor(d$primary)
d$second <- factor(d$second)
d$sex <- factor(d$sex, levels = c("M", "F"))
stopifnot(
  isTRUE(all.equal(d$attain, ScotsSec$attain)),
  isTRUE(all.equal(d$verbal, ScotsSec$verbal)),
  identical(as.character(d$primary), as.character(ScotsSec$primary)),
  identical(as.character(d$second), as.character(ScotsSec$second)),
  identical(as.character(d$sex), as.character(ScotsSec$sex))
)

formula <- attain ~ verbal + sex + (1 | primary) + (1 | second) + (1 | primary:second)
tight <- lmerControl(optimizer = "bobyqa",
                     optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5),
                     check.conv.singular = "ignore")
tight_desc <- 'lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5))'

named <- function(x, nm) { x <- as.list(as.numeric(x)); names(x) <- nm; x }

summarise_fit <- function(fit, control) {
  vc <- as.data.frame(VarCorr(fit))
  list(
    control = control,
    reml = isREML(fit),
    var_comp = named(vc$vcov, ifelse(is.na(vc$var1), "Residual", vc$grp)),
    theta = as.list(getME(fit, "theta")),
    fixef = as.list(fixef(fit)),
    loglik = as.numeric(logLik(fit)),
    singular = isSingular(fit),
    feval = fit@optinfo$feval
  )
}

seconds <- function(expr) { t <- system.time(expr); unname(t["elapsed"]) }
default_time <- median(replicate(5, seconds(lmer(formula, d))))
out <- list(
  model = "scotssec",
  data = "lme4/scotssec.csv",
  formula = deparse(formula, width.cutoff = 200L),
  n = nrow(d),
  lme4_version = as.character(packageVersion("lme4")),
  lme4_default_seconds = default_time,
  REML = summarise_fit(lmer(formula, d, REML = TRUE, control = tight), tight_desc),
  ML = summarise_fit(lmer(formula, d, REML = FALSE, control = tight), tight_desc)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), pretty = TRUE, na = "null"),
           file.path(here, "scotssec.json"))
cat(sprintf("scotssec REML logLik %.10f  ML logLik %.10f  (lme4 default fit %.3f s)\n",
            out$REML$loglik, out$ML$loglik, default_time))
writeLines(capture.output(sessionInfo()), file.path(here, "scotssec_sessionInfo.txt"))
