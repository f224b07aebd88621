# Fixtures for tests/imputer/panel/test_freetrade.py (run from this directory: Rscript make_freetrade.R).
# 1. freetrade.csv: Amelia's freetrade data as shipped (NA written as empty cells).
# 2. freetrade_em_<case>.csv: Amelia's EM estimate (boot.type = "none": EM on the data itself,
#    no bootstrap; m = 1) with ts = "year", cs = "country" and
#      case "plain":    no time covariates (year and country set aside, as idvars);
#      case "polytime": polytime = 2, intercs = TRUE (26 time columns: a quadratic per country).
#    Conversion from Amelia's internal scale to original units, for the eight variables:
#    * column order: Amelia stacks the model's columns in order(colSums(is.na(x))) (amstack,
#      colorder = TRUE; a stable sort, fully observed columns first, the time columns appended
#      after the variables by amsubset), so $mu and $covMatrices are in that order: undone below;
#    * scale: each model column is standardised by the mean and sd of its observed values
#      (scalecenter), so mu = mu_z * sd + mean and Sigma = diag(sd) Sigma_z diag(sd).
#    Rows: "mean" then one row per variable (the covariance); columns: the variables.
suppressMessages(library(Amelia))
data(freetrade)
write.csv(freetrade, "freetrade.csv", row.names = FALSE, na = "")
vars <- c("tariff", "polity", "pop", "gdp.pc", "intresmi", "signed", "fiveop", "usheg")
k <- length(vars)
m <- colMeans(freetrade[, vars], na.rm = TRUE)
s <- apply(freetrade[, vars], 2, sd, na.rm = TRUE)
save_em <- function(a, n_time, file) {
  counts <- c(colSums(is.na(freetrade[, vars])), rep(0, n_time))
  p_order <- order(counts)
  back <- match(seq_along(counts), p_order)[1:k]  # position of each variable in Amelia's order
  mu <- a$mu[back, 1] * s + m
  sig <- a$covMatrices[back, back, 1] * outer(s, s)
  out <- rbind(mean = mu, sig)
  colnames(out) <- vars
  rownames(out) <- c("mean", vars)
  write.csv(out, file, quote = TRUE)
  cat(file, ": EM iterations", nrow(a$iterHist[[1]]), "\n")
}
set.seed(1)
a <- amelia(freetrade, m = 1, ts = "year", cs = "country", boot.type = "none", tolerance = 1e-8, p2s = 0)
save_em(a, 0, "freetrade_em_plain.csv")
a <- amelia(freetrade, m = 1, ts = "year", cs = "country", polytime = 2, intercs = TRUE,
            boot.type = "none", tolerance = 1e-6, p2s = 0)
save_em(a, 26, "freetrade_em_polytime.csv")
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
