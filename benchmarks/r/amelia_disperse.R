# Time Amelia's disperse() on a CSV table and report where its chains ended, as one JSON line.
#
# Usage: Rscript amelia_disperse.R DATA.csv M REPEATS [EMPRI]
#   DATA.csv: numeric columns, empty cell or NA = missing.
#   M: chains (disperse's m): the first from Amelia's default start, the others from
#      overdispersed ones (the mean and covariance of round(2.5 p) draws at the first
#      chain's estimate).
#   EMPRI: Amelia's ridge prior in pseudo-rows (default 0).
#
# Timed (median of REPEATS, elapsed): what a user runs, amelia(x, m = 1, boot.type =
# "none") followed by disperse(a.out, m = M, dims = 1) drawing on a null PDF device.
# disperse() returns nothing but its picture, so the chains' end points are found by
# running its own steps again (Amelia's internal emarch from the same starts, as disperse
# does; seed 1), untimed: each chain's last theta on Amelia's standardised scale, and its
# distance from chain 1's end, max(|d mu_j| / sd_j, |d S_jk| / (sd_j sd_k)) with sd
# from chain 1's covariance. For two columns the end correlations are printed too.
#
# Output keys: seconds (median), seconds_all, m, iterations (per chain), distance (per
# chain, from chain 1), correlation (per chain, p = 2 only), versions.
suppressPackageStartupMessages(library(Amelia))
local({
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) < 3) stop("usage: Rscript amelia_disperse.R DATA.csv M REPEATS [EMPRI]")
  x <- read.csv(args[1], na.strings = c("", "NA"), check.names = FALSE)
  m <- as.integer(args[2])
  repeats <- as.integer(args[3])
  empri <- if (length(args) >= 4) as.numeric(args[4]) else 0
  self <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(self)) dirname(normalizePath(sub("^--file=", "", self[1]))) else "."
  source(file.path(here, "_json.R"))
  secs <- numeric(repeats)
  for (i in seq_len(repeats)) {
    set.seed(i)
    secs[i] <- system.time({
      a <- amelia(x, m = 1, boot.type = "none", p2s = 0, empri = empri)
      pdf(NULL)
      disperse(a, m = m, dims = 1)
      dev.off()
    })[["elapsed"]]
  }
  if (a$code != 1) stop(paste("Amelia failed:", a$message))
  # disperse's chains again, keeping each one's last theta
  set.seed(1)
  prepped <- Amelia:::amelia.prep(x = x, arglist = a$arguments)
  k <- ncol(prepped$x)
  chain <- function(start) {
    th <- Amelia:::emarch(prepped$x, p2s = 0, thetaold = start, tolerance = prepped$tolerance, startvals = 0,
                          priors = prepped$priors, empri = prepped$empri, frontend = FALSE, allthetas = TRUE,
                          collect = FALSE)
    last <- th$thetanew[, ncol(th$thetanew)]
    theta <- matrix(0, k + 1, k + 1)
    theta[upper.tri(theta, TRUE)] <- c(-1, last)
    theta <- t(theta)
    theta[upper.tri(theta, TRUE)] <- c(-1, last)
    list(mu = theta[1, -1], cov = theta[-1, -1], iterations = nrow(th$iter.hist) + 1)
  }
  ends <- list(chain(NULL))
  for (i in 2:m) {
    draws <- Amelia:::rmvnorm(round(2.5 * k), ends[[1]]$mu, ends[[1]]$cov)
    start <- matrix(-1, k + 1, k + 1)
    start[-1, -1] <- var(draws)
    start[1, -1] <- colMeans(draws)
    start[-1, 1] <- colMeans(draws)
    ends[[i]] <- chain(start)
  }
  sd <- sqrt(diag(ends[[1]]$cov))
  dist <- vapply(ends, function(e) max(abs(e$mu - ends[[1]]$mu) / sd, abs(e$cov - ends[[1]]$cov) / outer(sd, sd)), 0)
  out <- list(
    seconds = median(secs),
    seconds_all = as.list(secs),
    m = m,
    iterations = vapply(ends, function(e) e$iterations, 0),
    distance = dist,
    versions = list(R = R.version.string, Amelia = as.character(packageVersion("Amelia")))
  )
  if (k == 2) out$correlation <- vapply(ends, function(e) e$cov[1, 2] / sqrt(e$cov[1, 1] * e$cov[2, 2]), 0)
  cat(to_json(out), "\n", sep = "")
})
