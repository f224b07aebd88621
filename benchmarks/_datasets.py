"""Simulated data sets for the benchmarks (fixed seeds, :class:`numpy.random.Generator`).

Every generator is deterministic given its arguments, documents the true parameters it
simulated from, and returns plain numpy/pandas objects so that any engine (ours, R via
``Rscript``, scikit-learn) can be run on exactly the same numbers.

Multivariate normal with values missing at random -- :func:`mar_mvn`, :func:`mcar_mvn`
    Rows are i.i.d. ``N_p(mu, Sigma)`` with ``mu`` and ``Sigma`` from :func:`mvn_truth`:
    ``Sigma = D R D`` where the correlation ``R`` comes from a three-factor model
    (``R = cov2cor(L L' + diag(psi))``, loadings ``L_jk ~ N(0, 0.8^2)``, ``psi_j ~ U(0.3,
    1)``) so that the columns are correlated in a non-trivial, non-Toeplitz way, and the
    standard deviations ``D = diag(d)``, ``d_j ~ U(0.5, 3)``, and means ``mu_j ~ U(-5,
    5)`` differ by column. Column 0 (``x00``) is always observed. In :func:`mar_mvn` the
    probability that cell ``(i, j)``, ``j >= 1``, is missing is
    ``expit(a_j + s_j z_i)`` with ``z_i`` the standardised observed value of column 0 and
    slopes ``s_j`` spread evenly over ``[-1, 1]``; the intercepts ``a_j`` are solved so
    that each column's expected missing fraction equals ``missing_rate``. Missingness thus
    depends only on observed values (MAR, not MCAR). With ``n = 100_000``, ``p = 20`` and
    the default ``missing_rate = 0.17`` this gives about 20,000 distinct missingness
    patterns (``python -m benchmarks._datasets`` prints the count).

    ``n_patterns`` asks for an exact number of distinct patterns instead (e.g. 10 for few
    patterns, or ``n`` for nearly every row unique): a library of ``n_patterns`` distinct
    patterns (the first is the complete pattern) is drawn, ordered by how many cells they
    miss, and each row picks a pattern through a quantile that rises with ``z_i`` (plus
    noise), so that rows with large ``x00`` miss more -- again MAR. Every pattern of the
    library is used at least once when ``n >= n_patterns``.

Two crossed random intercepts -- :func:`crossed_intercepts`
    ``y = 10 + 2 x + a_{g1} + b_{g2} + e`` with ``x ~ N(0, 1)``, ``a ~ N(0, 2)`` over
    ``n1`` levels, ``b ~ N(0, 1)`` over ``n2`` levels and ``e ~ N(0, 4)``: the true
    variance components are ``s2_g1 = 2``, ``s2_g2 = 1``, ``s2_e = 4`` (see
    :data:`CROSSED_TRUTH`). Levels are assigned uniformly at random (unbalanced, crossed).

One dense genomic kernel -- :func:`single_kernel`
    ``n`` individuals genotyped at ``n_markers`` biallelic markers with allele frequencies
    ``p_k ~ U(0.05, 0.5)``, genotypes ``M_ik ~ Binomial(2, p_k)``; VanRaden's genomic
    relationship matrix ``K = W W' / (2 sum_k p_k (1 - p_k))`` with ``W = M - 2 p``
    (positive semi-definite by construction; since the markers are centred with the
    simulating frequencies rather than the sample means it has full rank when
    ``n_markers > n``: smallest eigenvalue about 0.03 for the defaults). ``y = X b + g + e`` with ``X = [1, x]``, ``b = (1, 0.5)``, ``g ~ N(0, 1.5 K)``,
    ``e ~ N(0, 1)`` (see :data:`KERNEL_TRUTH`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

__all__ = [
    "CROSSED_TRUTH",
    "KERNEL_TRUTH",
    "count_patterns",
    "crossed_intercepts",
    "mar_mvn",
    "mcar_mvn",
    "mvn_truth",
    "single_kernel",
]

#: True variance components and fixed effects of :func:`crossed_intercepts`.
CROSSED_TRUTH: dict[str, float] = {
    "s2_g1": 2.0,
    "s2_g2": 1.0,
    "s2_e": 4.0,
    "intercept": 10.0,
    "x": 2.0,
}

#: True variance components and fixed effects of :func:`single_kernel`.
KERNEL_TRUTH: dict[str, float] = {"s2_g": 1.5, "s2_e": 1.0, "intercept": 1.0, "x": 0.5}


def _columns(p: int) -> list[str]:
    width = max(2, len(str(p - 1)))
    return [f"x{j:0{width}d}" for j in range(p)]


def mvn_truth(p: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean vector and covariance matrix that :func:`mar_mvn` / :func:`mcar_mvn` sample from.

    Parameters
    ----------
    p : int
        Number of columns (``p >= 2``).
    seed : int
        The same seed as passed to the data generator.

    Returns
    -------
    mu : ndarray, shape (p,)
    sigma : ndarray, shape (p, p)
        Symmetric positive definite.
    """
    if p < 2:
        raise ValueError(f"p must be at least 2, got {p}")
    rng = np.random.default_rng([seed, 1])
    loadings = rng.normal(0.0, 0.8, size=(p, 3))
    psi = rng.uniform(0.3, 1.0, size=p)
    cov = loadings @ loadings.T + np.diag(psi)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    scale = rng.uniform(0.5, 3.0, size=p)
    mu = rng.uniform(-5.0, 5.0, size=p)
    sigma = corr * np.outer(scale, scale)
    return mu, (sigma + sigma.T) / 2.0


def _complete_mvn(n: int, p: int, seed: int) -> np.ndarray:
    mu, sigma = mvn_truth(p, seed=seed)
    rng = np.random.default_rng([seed, 2])
    chol = np.linalg.cholesky(sigma)
    return mu + rng.standard_normal((n, p)) @ chol.T


def count_patterns(data: pd.DataFrame | np.ndarray) -> int:
    """Number of distinct missingness patterns (rows of the NaN indicator).

    Parameters
    ----------
    data : DataFrame or ndarray, shape (n, p)

    Returns
    -------
    int
    """
    mask = np.isnan(np.asarray(data, dtype=float))
    if mask.shape[0] == 0:
        return 0
    return int(np.unique(np.packbits(mask, axis=1), axis=0).shape[0])


def _masked_frame(out: np.ndarray, seed: int) -> pd.DataFrame:
    """``out`` (n, p, NaN where missing) as a DataFrame with ``attrs`` seed, missing_rate, n_patterns."""
    df = pd.DataFrame(out, columns=_columns(out.shape[1]))
    df.attrs.update(
        seed=seed,
        missing_rate=float(np.isnan(out).mean()),
        n_patterns=count_patterns(out),
    )
    return df


def _calibrated_intercept(z: np.ndarray, slope: float, rate: float) -> float:
    """Solve mean(expit(a + slope * z)) = rate for a."""

    def gap(a: float) -> float:
        return float(np.mean(expit(a + slope * z)) - rate)

    return float(brentq(gap, -60.0, 60.0, xtol=1e-12))


def _pattern_library(k: int, m: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct boolean patterns over ``m`` columns (row 0 complete), sorted by size."""
    if k > 2**m:
        raise ValueError(
            f"n_patterns={k} exceeds the {2**m} possible patterns of {m} maskable columns"
        )
    seen: dict[bytes, np.ndarray] = {bytes(np.packbits(np.zeros(m, dtype=bool))): np.zeros(m, bool)}
    r = rate
    while len(seen) < k:
        batch = rng.random((max(4 * (k - len(seen)), 64), m)) < r
        before = len(seen)
        for row in batch:
            key = bytes(np.packbits(row))
            if key not in seen:
                seen[key] = row
                if len(seen) == k:
                    break
        if len(seen) - before < 0.05 * batch.shape[0]:
            r = min(0.5, r * 1.25)  # too few new patterns at this rate: widen the search
    lib = np.array(list(seen.values()), dtype=bool)
    order = np.argsort(lib.sum(axis=1), kind="stable")
    return lib[order]


def mar_mvn(
    n: int,
    p: int,
    *,
    n_patterns: int | None = None,
    missing_rate: float = 0.17,
    seed: int = 0,
) -> pd.DataFrame:
    """Multivariate-normal table with values missing at random (MAR).

    Parameters
    ----------
    n : int
        Rows.
    p : int
        Columns (``p >= 2``), named ``x00, x01, ...``; ``x00`` is always observed and
        drives the missingness of the others.
    n_patterns : int, optional
        Exact number of distinct missingness patterns (at most ``n`` and ``2**(p-1)``).
        Default: the natural logistic-MAR mechanism described in the module docstring
        (about 20,000 patterns for 100,000 x 20).
    missing_rate : float
        Expected fraction of missing cells in each of the columns ``x01..``. With
        ``n_patterns`` it is the rate the pattern library is drawn with; the realised rate
        can be higher when many distinct patterns are requested.
    seed : int
        Seed of the generator; the truth is ``mvn_truth(p, seed=seed)``.

    Returns
    -------
    DataFrame, shape (n, p)
        float64 with NaN for missing cells; ``attrs`` holds ``seed``, ``missing_rate``
        (realised, over all cells) and ``n_patterns`` (realised).
    """
    if not 0.0 < missing_rate < 1.0:
        raise ValueError(f"missing_rate must be in (0, 1), got {missing_rate}")
    full = _complete_mvn(n, p, seed)
    rng = np.random.default_rng([seed, 3])
    z = (full[:, 0] - full[:, 0].mean()) / full[:, 0].std()
    m = p - 1
    if n_patterns is None:
        slopes = np.linspace(-1.0, 1.0, m) if m > 1 else np.array([1.0])
        mask = np.empty((n, m), dtype=bool)
        for j, s in enumerate(slopes):
            a = _calibrated_intercept(z, float(s), missing_rate)
            mask[:, j] = rng.random(n) < expit(a + s * z)
    else:
        if not 1 <= n_patterns <= n:
            raise ValueError(f"n_patterns must be between 1 and n={n}, got {n_patterns}")
        lib = _pattern_library(n_patterns, m, missing_rate, rng)
        # quantile rising with the observed x00 (MAR), half signal, half noise
        q = 0.5 * expit(1.7 * z) + 0.5 * rng.random(n)
        idx = np.minimum((q * n_patterns).astype(np.int64), n_patterns - 1)
        # every pattern at least once: random rows take patterns 0..k-1 in turn
        idx[rng.permutation(n)[:n_patterns]] = np.arange(n_patterns)
        mask = lib[idx]
    out = full.copy()
    out[:, 1:][mask] = np.nan
    return _masked_frame(out, seed)


def mcar_mvn(n: int, p: int, *, missing_rate: float = 0.17, seed: int = 0) -> pd.DataFrame:
    """Multivariate-normal table with values missing completely at random (MCAR).

    Same truth as :func:`mar_mvn` (``mvn_truth(p, seed=seed)``), column ``x00`` always
    observed, each other cell missing independently with probability ``missing_rate``.

    Parameters
    ----------
    n, p : int
        Shape.
    missing_rate : float
        Probability that a cell of ``x01..`` is missing.
    seed : int

    Returns
    -------
    DataFrame, shape (n, p)
    """
    if not 0.0 < missing_rate < 1.0:
        raise ValueError(f"missing_rate must be in (0, 1), got {missing_rate}")
    full = _complete_mvn(n, p, seed)
    rng = np.random.default_rng([seed, 4])
    out = full.copy()
    out[:, 1:][rng.random((n, p - 1)) < missing_rate] = np.nan
    return _masked_frame(out, seed)


def _levels(prefix: str, k: int) -> list[str]:
    width = len(str(k))
    return [f"{prefix}{i:0{width}d}" for i in range(1, k + 1)]


def _assign(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random level codes in 0..k-1, every level used at least once (n >= k)."""
    codes = rng.integers(0, k, size=n)
    if n >= k:
        codes[rng.permutation(n)[:k]] = np.arange(k)
    return codes


def crossed_intercepts(
    n: int = 100_000, n1: int = 1000, n2: int = 50, *, seed: int = 0
) -> pd.DataFrame:
    """Response with two crossed random intercepts and one covariate.

    Model: ``y = 10 + 2 x + a[g1] + b[g2] + e``; ``a ~ N(0, 2 I_n1)``,
    ``b ~ N(0, 1 I_n2)``, ``e ~ N(0, 4 I_n)`` (:data:`CROSSED_TRUTH`).

    Parameters
    ----------
    n : int
        Rows.
    n1, n2 : int
        Levels of ``g1`` and ``g2`` (each used at least once when ``n >= n1, n2``).
    seed : int

    Returns
    -------
    DataFrame, shape (n, 4)
        Columns ``y`` (float), ``x`` (float), ``g1`` and ``g2`` (categorical with string
        levels ``"a0001"...`` and ``"b01"...``).
    """
    rng = np.random.default_rng([seed, 5])
    c1 = _assign(n, n1, rng)
    c2 = _assign(n, n2, rng)
    x = rng.standard_normal(n)
    a = rng.normal(0.0, np.sqrt(CROSSED_TRUTH["s2_g1"]), size=n1)
    b = rng.normal(0.0, np.sqrt(CROSSED_TRUTH["s2_g2"]), size=n2)
    e = rng.normal(0.0, np.sqrt(CROSSED_TRUTH["s2_e"]), size=n)
    y = CROSSED_TRUTH["intercept"] + CROSSED_TRUTH["x"] * x + a[c1] + b[c2] + e
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "g1": pd.Categorical.from_codes(c1, categories=_levels("a", n1)),
            "g2": pd.Categorical.from_codes(c2, categories=_levels("b", n2)),
        }
    )


def single_kernel(
    n: int = 2000, *, n_markers: int = 3000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random effect with a dense genomic relationship matrix (VanRaden).

    Model: ``y = X b + g + e``, ``X = [1, x]``, ``b = (1, 0.5)``, ``g ~ N(0, 1.5 K)``,
    ``e ~ N(0, 1 I)`` (:data:`KERNEL_TRUTH`); ``Z`` is the identity (one record per
    individual).

    Parameters
    ----------
    n : int
        Individuals (= records).
    n_markers : int
        Simulated biallelic markers used to build ``K``.
    seed : int

    Returns
    -------
    y : ndarray, shape (n,)
    X : ndarray, shape (n, 2)
        Intercept and covariate.
    K : ndarray, shape (n, n)
        Symmetric positive semi-definite, mean diagonal about 1.
    """
    rng = np.random.default_rng([seed, 6])
    freq = rng.uniform(0.05, 0.5, size=n_markers)
    geno = rng.binomial(2, freq, size=(n, n_markers)).astype(float)
    w = geno - 2.0 * freq
    scale = 2.0 * float(np.sum(freq * (1.0 - freq)))
    kmat = (w @ w.T) / scale
    kmat = (kmat + kmat.T) / 2.0
    # g = W a sqrt(s2_g / scale) has covariance s2_g W W' / scale = s2_g K exactly
    g = w @ rng.standard_normal(n_markers) * np.sqrt(KERNEL_TRUTH["s2_g"] / scale)
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    e = rng.normal(0.0, np.sqrt(KERNEL_TRUTH["s2_e"]), size=n)
    y = X @ np.array([KERNEL_TRUTH["intercept"], KERNEL_TRUTH["x"]]) + g + e
    return y, X, kmat


if __name__ == "__main__":  # pragma: no cover - prints the pattern counts
    import time

    t0 = time.perf_counter()
    d = mar_mvn(100_000, 20)
    print(
        f"mar_mvn(100_000, 20): {d.attrs['n_patterns']} patterns, "
        f"missing {d.attrs['missing_rate']:.3f} of cells, {time.perf_counter() - t0:.2f} s"
    )
    for k in (10, 50_000):
        d = mar_mvn(100_000, 20, n_patterns=k)
        print(
            f"mar_mvn(100_000, 20, n_patterns={k}): {d.attrs['n_patterns']} patterns, "
            f"missing {d.attrs['missing_rate']:.3f}"
        )
    c = crossed_intercepts()
    print(f"crossed_intercepts(): {c.shape}, g1 {c.g1.nunique()} levels, g2 {c.g2.nunique()}")
    t0 = time.perf_counter()
    y, X, K = single_kernel()
    w = np.linalg.eigvalsh(K)
    print(
        f"single_kernel(): K {K.shape}, mean diag {np.diag(K).mean():.3f}, "
        f"min eig {w.min():.2e}, {time.perf_counter() - t0:.2f} s"
    )
