r"""Starting values of a mixture fit: k-means++ and Lloyd on a first fill.

The first fill replaces every missing cell by its column's observed mean, i.e. 0 in the
engine's standardised units. On these rows ``y_i``, k-means++ (Arthur & Vassilvitskii,
2007) picks ``K`` centres, the first uniformly, each next one with probability
proportional to ``D(y_i)^2``, the squared distance to the nearest centre chosen so far;
then a few Lloyd iterations (assign to the nearest centre, move each centre to its
cluster's mean) refine the partition. The start is the partition's
``pi_k = n_k / n``, ``mu_k`` the cluster mean and ``Sigma_k`` the cluster covariance
(divisor ``n_k``) in the covariance structure; a cluster too small for a positive-definite
covariance (``n_k <= p``, or a near-singular one) takes the pooled within-cluster
covariance instead. EM then works on the incomplete data from there.

``n_init`` starts use independent streams ``numpy.random.SeedSequence(seed).spawn(n_init)``,
so a fit is reproducible given ``seed`` and its starts do not depend on each other.
"""

from __future__ import annotations

import numpy as np

from imputer.mixture._covtypes import CovarianceType
from imputer.mvn._fit import SINGULAR_EIG, corr_feasible

__all__ = ["LLOYD_ITER", "kmeans_plus_plus", "start_from_labels", "start_values"]

#: Lloyd iterations after the k-means++ seeding (fewer if the partition stops changing).
LLOYD_ITER = 20


def kmeans_plus_plus(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` distinct-by-construction seed rows of ``y`` (shape (n, p)) by k-means++, shape (k,)."""
    n = y.shape[0]
    idx = np.empty(k, dtype=np.intp)
    idx[0] = rng.integers(n)
    d2 = np.sum((y - y[idx[0]]) ** 2, axis=1)
    for j in range(1, k):
        total = float(d2.sum())
        if total > 0.0:
            idx[j] = rng.choice(n, p=d2 / total)
        else:  # every row coincides with a centre: any row
            idx[j] = rng.integers(n)
        d2 = np.minimum(d2, np.sum((y - y[idx[j]]) ** 2, axis=1))
    return idx


def _nearest(y: np.ndarray, centres: np.ndarray, yy: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centre (the first on ties, as ``numpy.argmin``).

    ``yy`` (n,) holds the rows' squared norms (the same every iteration), ``out`` (n, K)
    is scratch for ``y c'``. The distances ``yy - 2 y c_j' + |c_j|^2`` are formed one
    centre at a time, the same operations in the same order as on the whole ``n x K``
    array (so bitwise the same), each compared with the running minimum: ``argmin``
    along a short last axis, and arithmetic broadcast along it, pay per row (three
    times slower for a few centres).
    """
    prod = np.matmul(y, centres.T, out=out)
    cc = (centres * centres).sum(axis=1)
    labels = np.zeros(y.shape[0], dtype=np.intp)
    best = np.empty(y.shape[0])
    d2 = np.empty(y.shape[0])
    for j in range(centres.shape[0]):
        np.multiply(prod[:, j], 2.0, out=d2)
        np.subtract(yy, d2, out=d2)
        d2 += cc[j]
        if j == 0:
            best, d2 = d2, best
        else:
            labels[d2 < best] = j
            np.minimum(best, d2, out=best)
    return labels


def lloyd(y: np.ndarray, centres: np.ndarray, n_iter: int = LLOYD_ITER) -> np.ndarray:
    """Cluster labels (shape (n,)) after up to ``n_iter`` Lloyd iterations from ``centres`` (shape (k, p))."""
    k, p = centres.shape
    yy = (y * y).sum(axis=1)
    # the columns contiguous, for the clusters' sums below
    cols = np.ascontiguousarray(y.T)
    prod = np.empty((y.shape[0], k))
    labels = _nearest(y, centres, yy, prod)
    for _ in range(n_iter):
        counts = np.bincount(labels, minlength=k)
        # the clusters' sums, one bincount per column: each sum in row order, as
        # numpy.add.at would (bitwise the same)
        sums = np.empty((k, p))
        for j in range(p):
            sums[:, j] = np.bincount(labels, weights=cols[j], minlength=k)
        keep = counts > 0
        centres = centres.copy()
        centres[keep] = sums[keep] / counts[keep, None]
        new = _nearest(y, centres, yy, prod)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def start_from_labels(y: np.ndarray, labels: np.ndarray, cov_type: CovarianceType) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(weights (K,), means (K, p), covs (K, p, p))`` of a partition of the rows of ``y``."""
    k, p = cov_type.k, cov_type.p
    n = y.shape[0]
    counts = np.bincount(labels, minlength=k).astype(float)
    means = np.zeros((k, p))
    scatters = np.zeros((k, p, p))
    for j in range(k):
        rows = y[labels == j]
        if rows.shape[0]:
            means[j] = rows.mean(axis=0)
            d = rows - means[j]
            scatters[j] = d.T @ d
    pooled = scatters.sum(axis=0) / n
    if not corr_feasible(pooled):
        pooled = np.cov(y, rowvar=False, bias=True).reshape(p, p)
    covs = np.empty((k, p, p))
    for j in range(k):
        ok = counts[j] > p
        if ok:
            covs[j] = scatters[j] / counts[j]
            ok = corr_feasible(covs[j], 1e3 * SINGULAR_EIG)
        if not ok:
            covs[j] = pooled
    # a cluster may be empty or tiny: weights stay positive
    weights = np.maximum(counts, 1.0)
    weights /= weights.sum()
    covs = cov_type.project(covs, weights * n)
    return weights, means, covs


def start_values(
    y: np.ndarray, cov_type: CovarianceType, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One start: k-means++ seeding and Lloyd on the first fill ``y`` (shape (n, p)), then :func:`start_from_labels`."""
    seeds = kmeans_plus_plus(y, cov_type.k, rng)
    labels = lloyd(y, y[seeds].copy())
    return start_from_labels(y, labels, cov_type)
