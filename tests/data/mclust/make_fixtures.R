# Reference values for tests/imputer/mixture/test_mclust.py: Mclust on complete Old Faithful.
# Run from this directory: Rscript make_fixtures.R  (writes faithful_<model>.json, sessionInfo.txt)
# Model names map to scikit-learn's covariance types:
#   VVV = full, EEE = tied, VVI = diag, VII = spherical.
# mclust reports loglik (and BIC with the opposite sign of scikit-learn's, 2 loglik - k log n).
library(mclust)
data(faithful)
models <- c(VVV = "full", EEE = "tied", VVI = "diag", VII = "spherical")
num <- function(x) sprintf("%.17g", x)
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
for (m in names(models)) {
  # EM run to its end (the default relative tolerance 1e-5 stops ~1e-4 short of the maximum)
  fit <- Mclust(faithful, G = 2, modelNames = m, verbose = FALSE,
                control = emControl(tol = c(1e-14, 1e-14), itmax = c(100000L, 100000L)))
  p <- fit$parameters
  G <- fit$G
  d <- ncol(faithful)
  covs <- sapply(seq_len(G), function(k) {
    s <- p$variance$sigma[, , k]
    paste0("[", paste(sapply(seq_len(d), function(i) vec(s[i, ])), collapse = ", "), "]")
  })
  means <- sapply(seq_len(G), function(k) vec(p$mean[, k]))
  json <- paste0(
    "{\n",
    '  "model": "', m, '",\n',
    '  "covariance_type": "', models[[m]], '",\n',
    '  "G": ', G, ",\n",
    '  "loglik": ', num(fit$loglik), ",\n",
    '  "bic_mclust": ', num(fit$bic), ",\n",
    '  "df": ', fit$df, ",\n",
    '  "weights": ', vec(p$pro), ",\n",
    '  "means": [', paste(means, collapse = ", "), "],\n",
    '  "covs": [', paste(covs, collapse = ", "), "]\n",
    "}\n"
  )
  writeLines(json, paste0("faithful_", m, ".json"), sep = "")
}
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
