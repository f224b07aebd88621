# Write the three classic incomplete data sets of tests/data/classics/ as CSV (empty cell = missing).
#
# Usage: Rscript make_classics.R MISSVALS.rda MARIJUANA.txt.gz
#   MISSVALS.rda: data/missvals.rda of the CRAN package mvnmle 0.1-11.2
#                 (github.com/indenkun/mvnmle, commit 5a02ce5)
#   MARIJUANA.txt.gz: data/marijuana.txt.gz of the CRAN package norm2 2.0.4
#                 (github.com/cran/norm2)
# boys comes from the installed mice package (data(boys)); its factors gen, phb, reg
# are written as their integer codes (gen, phb: the ordered stages G1..G5 and P1..P6 as
# 1..5, 1..6; reg: north, east, west, south, city as 1..5), so that every column is numeric.
args <- commandArgs(trailingOnly = TRUE)
load(args[1])
write.csv(missvals, "missvals.csv", row.names = FALSE, na = "")
marijuana <- read.table(gzfile(args[2]), header = TRUE)
write.csv(marijuana, "marijuana.csv", row.names = FALSE, na = "")
data(boys, package = "mice")
b <- boys
for (v in c("gen", "phb", "reg")) b[[v]] <- as.integer(b[[v]])
write.csv(b, "boys.csv", row.names = FALSE, na = "")
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
