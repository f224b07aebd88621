"""Shared Gaussian kernel layer (private): the multivariate normal with missing cells.

One job per module:

* :mod:`~imputer._gaussian.patterns`: missingness patterns of a mask, grouped by size.
* :mod:`~imputer._gaussian.layout`: the row layout (work array, blocks, pattern chunks,
  frequent-pattern sums) the kernels run on.
* :mod:`~imputer._gaussian.linalg`: precision, the batched sweep, batched SPD inverse and
  Cholesky; :class:`~imputer._gaussian.linalg.Infeasible`.
* :mod:`~imputer._gaussian.chunks`: the one loop over pattern chunks (conditional
  covariances, log-determinants, factors) and the update-form conditional mean.
* :mod:`~imputer._gaussian.stats`: additive :class:`SufficientStats`.
* :mod:`~imputer._gaussian.estep`: the E-step (weighted or not) into :class:`SufficientStats`.
* :mod:`~imputer._gaussian.objective`: log-likelihood, log-posterior and M-step from them.
* :mod:`~imputer._gaussian.rows`: per-row log-densities, Mahalanobis distances,
  conditional means and conditional draws.
* :mod:`~imputer._gaussian.information`: the observed-data information of ``(mu, vech
  Sigma)`` summed per pattern (with an optional inverse-Wishart prior), and the
  complete-data information, for standard errors.
"""
