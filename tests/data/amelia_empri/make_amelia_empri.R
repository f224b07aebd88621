# Reference values for imputer.impute(..., ridge=lambda, prior="amelia"): Amelia's EM
# estimate with empri = lambda (no bootstrap), transformed back to the data's scale.
#
# Run from the project root:  Rscript tests/data/amelia_empri/make_amelia_empri.R
# Writes tests/data/amelia_empri/reference.json and sessionInfo.txt.
#
# amelia(x, m = 1, boot.type = "none", empri = lambda, tolerance = 1e-12) runs one EM
# chain on the data themselves. Amelia reports mu and Sigma on its standardised scale
# (columns centred by their observed mean and scaled by their observed sd, divisor
# n_j - 1) and in its internal column order (prepped$p.order); both are undone here with
# Amelia's own prep values: mu = mu_s * sd + m, Sigma = diag(sd) Sigma_s diag(sd).
# Amelia's C code truncates empri to an integer: the cases use integers.
suppressPackageStartupMessages(library(Amelia))
source(file.path("benchmarks", "r", "_json.R"))
here <- file.path("tests", "data", "amelia_empri")
cases <- list(
  list(name = "airquality_empri5", file = file.path("tests", "data", "airquality.csv"),
       columns = c("Ozone", "Solar.R", "Wind", "Temp"), empri = 5),
  list(name = "missvals_empri2", file = file.path("tests", "data", "classics", "missvals.csv"),
       columns = NULL, empri = 2),
  list(name = "missvals_empri10", file = file.path("tests", "data", "classics", "missvals.csv"),
       columns = NULL, empri = 10),
  list(name = "marijuana_empri4", file = file.path("tests", "data", "classics", "marijuana.csv"),
       columns = NULL, empri = 4)
)
out <- list()
for (case in cases) {
  x <- read.csv(case$file, na.strings = c("", "NA"), check.names = FALSE)
  if (!is.null(case$columns)) x <- x[, case$columns]
  set.seed(1)
  fit <- amelia(x, m = 1, boot.type = "none", p2s = 0, tolerance = 1e-12, empri = case$empri)
  if (fit$code != 1) stop(paste(case$name, "Amelia failed:", fit$message))
  pr <- Amelia:::amelia.prep(x = x, m = 1, boot.type = "none", p2s = 0, empri = case$empri)
  ord <- order(pr$p.order)
  s <- as.numeric(pr$scaled.sd)
  mu <- as.numeric(fit$mu[ord, 1]) * s + as.numeric(pr$scaled.mu)
  cov <- fit$covMatrices[ord, ord, 1] * outer(s, s)
  out[[case$name]] <- list(
    file = basename(case$file), columns = colnames(x), empri = case$empri,
    iterations = nrow(fit$iterHist[[1]]), mean = mu, cov = unname(cov)
  )
}
out$versions <- list(R = R.version.string, Amelia = as.character(packageVersion("Amelia")))
writeLines(to_json(out), file.path(here, "reference.json"))
writeLines(capture.output(sessionInfo()), file.path(here, "sessionInfo.txt"))
