# Time Amelia's multiple imputation (EMB: bootstrap + EM + draws) on a CSV table and
# print the result as one JSON line.
#
# Usage: Rscript amelia_mi.R DATA.csv M REPEATS
#   DATA.csv: numeric columns, empty cell or NA = missing.
#   M: number of imputations (Amelia's m).
#
# Each repeat runs amelia(x, m = M, p2s = 0) at Amelia's defaults (nonparametric
# bootstrap, EM tolerance 1e-4, no ridge prior), one R process, serial (parallel = "no"
# is Amelia's default). The elapsed time of that call is timed (reading the CSV is not).
#
# Output keys: seconds (median), seconds_all, m, iterations (EM iterations of each
# chain, last repeat), n, p, versions.
suppressPackageStartupMessages(library(Amelia))
local({
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) < 2) stop("usage: Rscript amelia_mi.R DATA.csv M [REPEATS]")
  path <- args[1]
  m <- as.integer(args[2])
  repeats <- if (length(args) >= 3) as.integer(args[3]) else 1L
  self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."
  source(file.path(here, "_json.R"))
  x <- read.csv(path, na.strings = c("", "NA"), check.names = FALSE)
  secs <- numeric(repeats)
  fit <- NULL
  for (i in seq_len(repeats)) {
    set.seed(i)
    secs[i] <- system.time(fit <- amelia(x, m = m, p2s = 0))[["elapsed"]]
  }
  if (fit$code != 1) stop(paste("Amelia failed:", fit$message))
  out <- list(
    seconds = median(secs),
    seconds_all = as.list(secs),
    m = m,
    iterations = vapply(fit$iterHist, nrow, 1L),
    n = nrow(x),
    p = ncol(x),
    versions = list(R = R.version.string, Amelia = as.character(packageVersion("Amelia")))
  )
  cat(to_json(out), "\n", sep = "")
})
