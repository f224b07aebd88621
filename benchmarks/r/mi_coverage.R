# Coverage of mice's and Amelia's multiple imputations on the simulated data sets of
# benchmarks/bench_mi.py, printed as one JSON line.
#
# Usage: Rscript mi_coverage.R SIMS.csv M
#   SIMS.csv: columns sim, x1, x2, y (NA = missing); one block of rows per data set.
#   M: imputations per data set.
#
# For every data set and both tools: impute M times (mice at its defaults -- predictive
# mean matching -- with seed = sim; Amelia at its defaults with set.seed(sim)), then
# analyse each completed table exactly as bench_mi.py does for imputer:
#   * the mean of y: estimate mean(y), variance var(y)/n, complete-data df n - 1;
#   * the slope of y on x1 in lm(y ~ x1 + x2): coefficient, its squared standard error,
#     complete-data df n - 3;
# and pool with mice::pool.scalar (Rubin's rules, Barnard-Rubin df), the 95% interval
# qbar +- qt(0.975, df) sqrt(t). Output: for each tool and estimand, arrays est, low, high
# (one entry per data set, in the order of sim), plus seconds per tool and versions.
suppressPackageStartupMessages({ library(mice); library(Amelia) })
local({
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) < 2) stop("usage: Rscript mi_coverage.R SIMS.csv M")
  sims <- read.csv(args[1], na.strings = c("", "NA"))
  m <- as.integer(args[2])
  self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."
  source(file.path(here, "_json.R"))
  ids <- sort(unique(sims$sim))
  analyse <- function(tables) {
    n <- nrow(tables[[1]])
    qm <- vapply(tables, function(d) mean(d$y), 0)
    um <- vapply(tables, function(d) var(d$y) / n, 0)
    fits <- lapply(tables, function(d) summary(lm(y ~ x1 + x2, data = d))$coefficients)
    qs <- vapply(fits, function(f) f["x1", "Estimate"], 0)
    us <- vapply(fits, function(f) f["x1", "Std. Error"]^2, 0)
    one <- function(q, u, dfcom) {
      p <- pool.scalar(q, u, n = dfcom + 1, k = 1)
      half <- qt(0.975, p$df) * sqrt(p$t)
      c(p$qbar, p$qbar - half, p$qbar + half)
    }
    list(mean = one(qm, um, n - 1), slope = one(qs, us, n - 3))
  }
  collect <- function(res) {
    out <- list()
    for (what in c("mean", "slope")) {
      mat <- vapply(res, function(r) r[[what]], numeric(3))
      out[[what]] <- list(est = mat[1, ], low = mat[2, ], high = mat[3, ])
    }
    out
  }
  t0 <- proc.time()[["elapsed"]]
  res_mice <- lapply(ids, function(s) {
    d <- sims[sims$sim == s, c("x1", "x2", "y")]
    imp <- mice(d, m = m, seed = s, printFlag = FALSE)
    analyse(lapply(seq_len(m), function(i) complete(imp, i)))
  })
  t_mice <- proc.time()[["elapsed"]] - t0
  t0 <- proc.time()[["elapsed"]]
  res_amelia <- lapply(ids, function(s) {
    d <- sims[sims$sim == s, c("x1", "x2", "y")]
    set.seed(s)
    a <- amelia(d, m = m, p2s = 0)
    if (a$code != 1) return(list(mean = rep(NA_real_, 3), slope = rep(NA_real_, 3)))
    analyse(a$imputations)
  })
  t_amelia <- proc.time()[["elapsed"]] - t0
  out <- list(
    mice = collect(res_mice), amelia = collect(res_amelia),
    seconds = list(mice = t_mice, amelia = t_amelia), m = m, n_sims = length(ids),
    versions = list(R = R.version.string, mice = as.character(packageVersion("mice")),
                    Amelia = as.character(packageVersion("Amelia")))
  )
  cat(to_json(out), "\n", sep = "")
})
