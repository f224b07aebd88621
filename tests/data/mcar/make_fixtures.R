# Reference values for tests/imputer/diagnostics/test_r_reference.py (CI has no R, so the
# outputs of this script are committed next to it).
#
# Run from the project root:  Rscript tests/data/mcar/make_fixtures.R
# Needs: R >= 4, mice, jsonlite (Debian: r-cran-mice r-cran-jsonlite).
#
# Writes, next to this script:
#   md_pattern.json    mice::md.pattern(airquality): the variables (in mice's order, by
#                      number missing), one 0/1 row per pattern (mice's row order), each
#                      pattern's count (mice's row names) and number missing (last column),
#                      and the column totals (last row)
#   little.json        Little's (1988) d^2, df, p-value and patterns used, with the EM
#                      estimate, at the maximum-likelihood estimate of airquality for each
#                      of: all six columns, (Ozone, Solar.R, Wind, Temp), (Ozone, Wind)
#   sessionInfo.txt    R and package versions
#
# The MLE is found here by a plain EM for the multivariate normal written out below
# (E-step: conditional means and covariances of the missing cells; M-step: sample moments
# of the completed sufficient statistics), iterated until no parameter changes by more than
# 1e-14 relative -- an implementation in another language sharing no code with imputer's
# (SQUAREM-accelerated, pattern-batched) engine. Little's statistic is then
# d^2 = sum_g n_g (ybar_g - mu_g)' Sigma_gg^-1 (ybar_g - mu_g), df = sum_g p_g - p, over
# the patterns observing at least one column; p = pchisq(d2, df, lower.tail = FALSE).

suppressMessages({
  library(mice)
  library(jsonlite)
})

here <- "tests/data/mcar"
air <- read.csv("tests/data/airquality.csv")
stopifnot(isTRUE(all.equal(air, datasets::airquality, check.attributes = FALSE)))

em_mvn <- function(x, tol = 1e-14, max_iter = 100000) {
  x <- as.matrix(x)
  n <- nrow(x); p <- ncol(x)
  mu <- colMeans(x, na.rm = TRUE)
  sigma <- diag(apply(x, 2, var, na.rm = TRUE), p)
  for (it in seq_len(max_iter)) {
    s1 <- numeric(p); s2 <- matrix(0, p, p)
    for (i in seq_len(n)) {
      m <- is.na(x[i, ]); o <- !m
      xi <- x[i, ]; ci <- matrix(0, p, p)
      if (any(m)) {
        if (any(o)) {
          b <- sigma[m, o, drop = FALSE] %*% solve(sigma[o, o, drop = FALSE])
          xi[m] <- mu[m] + b %*% (x[i, o] - mu[o])
          ci[m, m] <- sigma[m, m, drop = FALSE] - b %*% sigma[o, m, drop = FALSE]
        } else {
          xi[m] <- mu[m]; ci[m, m] <- sigma[m, m]
        }
      }
      s1 <- s1 + xi
      s2 <- s2 + xi %o% xi + ci
    }
    mu_new <- s1 / n
    sigma_new <- s2 / n - mu_new %o% mu_new
    change <- max(abs(mu_new - mu) / sqrt(diag(sigma)), abs(sigma_new - sigma) / sqrt(diag(sigma) %o% diag(sigma)))
    mu <- mu_new; sigma <- sigma_new
    if (change < tol) break
  }
  list(mu = mu, sigma = sigma, iterations = it, change = change)
}

little <- function(x) {
  x <- as.matrix(x)
  p <- ncol(x)
  fit <- em_mvn(x)
  key <- apply(!is.na(x), 1, function(r) paste(as.integer(r), collapse = ""))
  d2 <- 0; df <- -p; used <- 0
  for (k in unique(key)) {
    rows <- x[key == k, , drop = FALSE]
    o <- !is.na(rows[1, ])
    if (!any(o)) next
    used <- used + 1
    df <- df + sum(o)
    d <- colMeans(rows[, o, drop = FALSE]) - fit$mu[o]
    d2 <- d2 + nrow(rows) * drop(t(d) %*% solve(fit$sigma[o, o, drop = FALSE], d))
  }
  list(columns = colnames(x), statistic = d2, df = df, p_value = pchisq(d2, df, lower.tail = FALSE),
       n_patterns = used, em_iterations = fit$iterations, em_change = fit$change,
       mean = unname(fit$mu), cov = unname(fit$sigma))
}

sets <- list(colnames(air), c("Ozone", "Solar.R", "Wind", "Temp"), c("Ozone", "Wind"))
out <- lapply(sets, function(cols) little(air[, cols]))
write_json(out, file.path(here, "little.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)

mp <- md.pattern(air, plot = FALSE)
k <- nrow(mp)
write_json(
  list(
    variables = colnames(mp)[-ncol(mp)],
    patterns = unname(lapply(seq_len(k - 1), function(i) as.integer(mp[i, -ncol(mp)]))),
    counts = as.integer(rownames(mp)[-k]),
    n_missing = as.integer(mp[-k, ncol(mp)]),
    column_missing = as.integer(mp[k, -ncol(mp)])
  ),
  file.path(here, "md_pattern.json"), auto_unbox = TRUE, pretty = TRUE
)

writeLines(capture.output(sessionInfo()), file.path(here, "sessionInfo.txt"))
