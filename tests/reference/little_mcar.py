r"""Independent reference: Little's (1988) MCAR chi-square statistic, the formula written directly.

Test-only; shares no code with :mod:`imputer.diagnostics.mcar` (no pattern grouping of the
engine, no standardisation, no batching). Rows are grouped by their missingness pattern
with a plain dictionary keyed by the tuple of observed flags, and for each pattern ``g``
observing something (``p_g > 0`` columns ``O_g``, ``n_g`` rows, observed mean ``ybar_g``)

.. math::

    d^2 = \sum_g n_g (\bar y_g - \mu_{O_g})^\top \Sigma_{O_g O_g}^{-1} (\bar y_g - \mu_{O_g}),
    \qquad \mathrm{df} = \sum_g p_g - p

(Little, R. J. A. (1988). A test of missing completely at random for multivariate data
with missing values. JASA 83(404), 1198-1202, eq. (5)), with ``Sigma_OO^{-1}`` by
``numpy.linalg.inv``. The estimate ``(mu, Sigma)`` is passed in: the tests use the MLE of
:func:`tests.reference.mvn_mle.mvn_mle` (direct maximisation of the likelihood). The
p-value is the chi-square upper tail, computed here from the regularised incomplete gamma
function ``Q(df/2, d^2/2)`` (:func:`scipy.special.gammaincc`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special

__all__ = ["little_d2"]


def little_d2(values: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[float, int, float, int]:
    """Little's statistic at ``(mean, cov)``.

    Parameters
    ----------
    values : ndarray, shape (n, p)
        NaN for missing.
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p)

    Returns
    -------
    (d2, df, p_value, n_patterns) : (float, int, float, int)
        ``p_value`` is NaN when ``df == 0``; ``n_patterns`` counts the patterns observing
        something.
    """
    x = np.asarray(values, dtype=float)
    p = x.shape[1]
    groups: dict[tuple[bool, ...], list[np.ndarray]] = {}
    for row in x:
        groups.setdefault(tuple(bool(b) for b in ~np.isnan(row)), []).append(row)
    d2 = 0.0
    df = -p
    used = 0
    for key, rows in groups.items():
        o = np.array(key)
        if not o.any():
            continue
        used += 1
        df += int(o.sum())
        ybar = np.array(rows)[:, o].mean(axis=0)
        diff = ybar - mean[o]
        d2 += len(rows) * float(diff @ np.linalg.inv(cov[np.ix_(o, o)]) @ diff)
    p_value = float(scipy.special.gammaincc(df / 2.0, d2 / 2.0)) if df > 0 else math.nan
    return d2, df, p_value, used
