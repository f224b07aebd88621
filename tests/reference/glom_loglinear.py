r"""Independent reference: the general location model with log-linear cell probabilities (main effects
and pairwise associations), maximised directly.

Test-only. No EM and no IPF: the observed-data log-likelihood of
:func:`tests.reference.glom_direct.glom_loglik` (each row's observed cells, summed over
the cells compatible with its observed levels; cells the ``itertools.product`` of the
levels) under the parameterisation

.. math::

    \log \pi_c = \lambda_0 + \sum_j \lambda_j(c_j) + \sum_{j<k} \lambda_{jk}(c_j, c_k)

with baseline coding (``lambda_j(0) = 0``, ``lambda_jk(0, .) = lambda_jk(., 0) = 0``;
``lambda_0`` the normaliser: ``pi = softmax(D lambda)``), additive or saturated cell
means and ``Sigma = L L'`` (``exp`` diagonal), in working units ``z = (x - mean) / sd``.
``-ell / n`` is minimised by BFGS with central-difference gradients (``gtol = 1e-10``),
restarted once from its own answer (:func:`tests.reference.glom_direct.maximise`, which
:func:`tests.reference.glom_direct.glom_mle` uses too).
"""

from __future__ import annotations

import itertools

import numpy as np
from tests.reference.glom_direct import maximise

__all__ = ["glom_mle_pairwise", "pairwise_design"]


def pairwise_design(levels: list[int]) -> np.ndarray:
    """``D`` (C, sum_j (L_j - 1) + sum_{j<k} (L_j - 1)(L_k - 1)): main-effect and pairwise indicators, no intercept."""
    cells = list(itertools.product(*(range(L) for L in levels)))
    rows = []
    for cell in cells:
        row = []
        for j, L in enumerate(levels):
            row += [1.0 if cell[j] == v else 0.0 for v in range(1, L)]
        for j, k in itertools.combinations(range(len(levels)), 2):
            row += [1.0 if (cell[j], cell[k]) == (u, v) else 0.0 for u in range(1, levels[j]) for v in range(1, levels[k])]
        rows.append(row)
    return np.array(rows)


def _mean_design(levels: list[int], additive: bool) -> np.ndarray:
    cells = list(itertools.product(*(range(L) for L in levels)))
    if not additive:
        return np.eye(len(cells))
    return np.array([[1.0] + [1.0 if c[j] == v else 0.0 for j, L in enumerate(levels) for v in range(1, L)] for c in cells])


def glom_mle_pairwise(
    codes: np.ndarray, x: np.ndarray, levels: list[int], additive: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Maximise the observed-data log-likelihood under pairwise log-linear probabilities.

    The start of ``lambda``: least squares of the log complete-case counts (plus one) on
    the intercept and the design. :func:`tests.reference.glom_direct.maximise` does the rest.

    Returns
    -------
    pi (C,), means (C, p), sigma (p, p), loglik
        The maximiser in original units (cells in ``itertools.product`` order) and its log-likelihood.
    """
    dp = pairwise_design(levels)

    def start(counts: np.ndarray) -> np.ndarray:
        return np.linalg.lstsq(np.c_[np.ones(dp.shape[0]), dp], np.log(counts), rcond=None)[0][1:]

    return maximise(codes, x, levels, dp, _mean_design(levels, additive), start)
