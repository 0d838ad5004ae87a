# Reference values for fastem's covariance models, computed by R's mclust.
#
# Run from the repository root:  Rscript tests/reference/mclust_reference.R
# (Debian: apt-get install r-base-core r-cran-mclust). It writes, for three real
# data sets that ship with R and mclust, the data, mclust's hierarchical initial
# partition, and for each of the 14 models the result of EM started from that
# partition (mclust's me(): M-step first) run to a tight tolerance: log-likelihood,
# number of parameters, BIC, mixing proportions, means and covariances. The test
# suite reads these files; it never needs R.
suppressPackageStartupMessages(library(mclust))

out <- "tests/reference"
models <- c("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE",
            "EEV", "VEV", "EVV", "VVV")
sets <- list(
  faithful = list(data = as.matrix(datasets::faithful), G = 3),
  iris = list(data = as.matrix(datasets::iris[, 1:4]), G = 3),
  diabetes = list(data = as.matrix(mclust::diabetes[, -1]), G = 3)
)
control <- emControl(tol = c(1e-13, 1e-14), itmax = c(100000, 100000))

rows <- list()
add <- function(set, model, what, values) {
  rows[[length(rows) + 1]] <<- data.frame(set = set, model = model, what = what,
                                          index = seq_along(values) - 1,
                                          value = sprintf("%.17g", values))
}
for (name in names(sets)) {
  X <- sets[[name]]$data
  G <- sets[[name]]$G
  start <- hclass(hc(X, modelName = "VVV"), G)[, 1]
  write.table(cbind(X, start = start - 1), file.path(out, paste0(name, ".csv")),
              sep = ",", row.names = FALSE, col.names = TRUE)
  for (model in models) {
    fit <- me(X, modelName = model, z = unmap(start), control = control)
    if (is.na(fit$loglik)) next
    d <- ncol(X)
    add(name, model, "loglik", fit$loglik)
    add(name, model, "n_parameters", nMclustParams(model, d, G))
    add(name, model, "bic", bic(model, fit$loglik, nrow(X), d, G))
    add(name, model, "weights", fit$parameters$pro)
    add(name, model, "means", fit$parameters$mean)  # (d, G) column-major = (G, d) row-major
    add(name, model, "covariances", fit$parameters$variance$sigma)  # (d, d, G): (G, d, d)
  }
}
write.csv(do.call(rbind, rows), file.path(out, "mclust_me.csv"), row.names = FALSE,
          quote = FALSE)

# Model selection: Mclust's BIC table over the 14 models and G = 1..9 (EM run to the tight
# tolerance above), its
# choice, and the hierarchical partitions for every G it starts from.
selection <- list()
for (name in names(sets)) {
  X <- sets[[name]]$data
  partitions <- hclass(hc(X, modelName = "VVV", use = mclust.options("hcUse")), 1:9) - 1
  colnames(partitions) <- paste0("G", 1:9)
  write.csv(partitions, file.path(out, paste0(name, "-partitions.csv")), row.names = FALSE)
  fit <- Mclust(X, G = 1:9, modelNames = models, control = control, verbose = FALSE)
  table <- fit$BIC[, models]
  for (G in 1:9) for (model in models) {
    selection[[length(selection) + 1]] <- data.frame(
      set = name, G = G, model = model, bic = sprintf("%.17g", table[G, model]),
      chosen = as.integer(fit$G == G && fit$modelName == model))
  }
}
write.csv(do.call(rbind, selection), file.path(out, "mclust_bic.csv"), row.names = FALSE,
          quote = FALSE)
cat("mclust", as.character(packageVersion("mclust")), "reference values written to", out, "\n")
