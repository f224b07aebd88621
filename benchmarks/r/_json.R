# Minimal JSON writer shared by the benchmark R scripts (no package dependency, so the
# benchmarks need only r-base-core + r-cran-amelia + r-cran-lme4).
# Numbers are written with 17 significant digits; NA/NaN/Inf become null.
# Named vectors and lists become objects, unnamed ones arrays, matrices arrays of rows.
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.matrix(x)) {
    rows <- lapply(seq_len(nrow(x)), function(i) unname(x[i, ]))
    return(paste0("[", paste(vapply(rows, to_json_array, ""), collapse = ","), "]"))
  }
  if (is.list(x)) {
    parts <- vapply(x, to_json, "")
    if (!is.null(names(x))) {
      return(paste0("{", paste0(json_str(names(x)), ":", parts, collapse = ","), "}"))
    }
    return(paste0("[", paste(parts, collapse = ","), "]"))
  }
  vals <- json_scalar(x)
  if (!is.null(names(x))) {
    return(paste0("{", paste0(json_str(names(x)), ":", vals, collapse = ","), "}"))
  }
  if (length(x) == 1) return(vals)
  paste0("[", paste(vals, collapse = ","), "]")
}
to_json_array <- function(x) paste0("[", paste(json_scalar(x), collapse = ","), "]")
json_scalar <- function(x) {
  if (is.character(x) || is.factor(x)) return(json_str(as.character(x)))
  if (is.logical(x)) return(ifelse(is.na(x), "null", ifelse(x, "true", "false")))
  ifelse(is.finite(x), sprintf("%.17g", as.numeric(x)), "null")
}
json_str <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s)
  paste0("\"", s, "\"")
}
