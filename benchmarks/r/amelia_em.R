# Time Amelia's EM chain on a CSV table and print the result as one JSON line.
#
# Usage: Rscript amelia_em.R DATA.csv REPEATS [TOLERANCE [EMPRI]]
#   DATA.csv: numeric columns, empty cell or NA = missing.
#   TOLERANCE: Amelia's EM tolerance (default: Amelia's own, 1e-4; "NA" for the default).
#   EMPRI: Amelia's ridge prior in pseudo-rows (default 0; wide tables need one).
#
# Each repeat runs amelia(x, m = 1, boot.type = "none"): one EM chain from Amelia's
# default start on the data itself (no bootstrap), at Amelia's default tolerance
# (1e-4 on its internally standardised scale) unless TOLERANCE is given, followed by
# one imputation draw. The elapsed time of that call is what is timed (reading the CSV is not). Amelia reports
# the EM estimate on its standardised scale (columns centred and scaled by their
# observed mean and sd); the means/covariance printed here are transformed back to the
# data's scale: mu = mu_s * sd + m, Sigma = diag(sd) Sigma_s diag(sd), and back to the
# data's column order (Amelia sorts the columns internally).
#
# Output keys: seconds (median), seconds_all, iterations (EM iterations of the chain),
# n, p, columns, mean, cov (row-major list of rows), tolerance, versions.
suppressPackageStartupMessages(library(Amelia))
local({
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) < 1) stop("usage: Rscript amelia_em.R DATA.csv [REPEATS] [TOLERANCE]")
  path <- args[1]
  repeats <- if (length(args) >= 2) as.integer(args[2]) else 3L
  tol <- if (length(args) >= 3 && args[3] != "NA") as.numeric(args[3]) else formals(Amelia::amelia.default)$tolerance
  empri <- if (length(args) >= 4) as.numeric(args[4]) else 0
  self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."
  source(file.path(here, "_json.R"))
  x <- read.csv(path, na.strings = c("", "NA"), check.names = FALSE)
  secs <- numeric(repeats)
  fit <- NULL
  for (i in seq_len(repeats)) {
    set.seed(i)
    secs[i] <- system.time(fit <- amelia(x, m = 1, boot.type = "none", p2s = 0, tolerance = tol, empri = empri))[["elapsed"]]
  }
  if (fit$code != 1) stop(paste("Amelia failed:", fit$message))
  # fit$mu / fit$covMatrices are in Amelia's internal column order (prepped$p.order,
  # columns sorted by missingness) although Amelia labels them in the data's order;
  # undo the permutation and the standardisation with Amelia's own prep values.
  pr <- Amelia:::amelia.prep(x = x, m = 1, boot.type = "none", p2s = 0, empri = empri)
  ord <- order(pr$p.order)
  s <- as.numeric(pr$scaled.sd)
  mu <- as.numeric(fit$mu[ord, 1]) * s + as.numeric(pr$scaled.mu)
  cov <- fit$covMatrices[ord, ord, 1] * outer(s, s)
  names(mu) <- colnames(x)
  out <- list(
    seconds = median(secs),
    seconds_all = as.list(secs),
    iterations = nrow(fit$iterHist[[1]]),
    n = nrow(x),
    p = ncol(x),
    columns = colnames(x),
    mean = as.list(mu),
    cov = unname(cov),
    tolerance = fit$arguments$tolerance,
    versions = list(R = R.version.string, Amelia = as.character(packageVersion("Amelia")))
  )
  cat(to_json(out), "\n", sep = "")
})
