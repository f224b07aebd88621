r"""Independent reference: general location model MLE with missing values by direct maximisation.

Test-only. Shares no code and no algorithm with :mod:`imputer.glom` (no EM, no
responsibilities, no conditional expectations, no cell grid of its own: cells are the
``itertools.product`` of the levels). R's ``mix`` and ``cat`` (Schafer's packages, the
usual reference for this model) are not installed on this machine, so the reference is
the likelihood itself, written down and maximised numerically with :mod:`scipy.optimize`.

Model
-----
Categorical columns with levels ``0..L_j-1`` (``-1``: missing) define cells ``c``;
``pi_c`` cell probabilities; given the cell, the continuous columns are ``N(mu_c,
Sigma)`` with one ``Sigma``. Row ``i`` observes the continuous set ``o_i``:

.. math::

    \ell = \sum_{i:\ \text{levels observed}} \log\big(\pi_{c_i} N(x_{i,o_i}; \mu_{c_i,o_i}, \Sigma_{o_io_i})\big)
        + \sum_{i:\ \text{a level missing}} \log \sum_{c \text{ compatible}} \pi_c N(x_{i,o_i}; \mu_{c,o_i}, \Sigma_{o_io_i})

(constants included), the densities scipy's ``multivariate_normal.logpdf`` of each row's
observed cells, combined by ``scipy.special.logsumexp``.

Parameterisation
----------------
Unconstrained: ``pi = softmax(0, a_2, ..., a_C)``; saturated means free, additive means
``mu_c = b_0 + sum_j b_{j, c_j}`` (``b_{j,0} = 0``) with the ``b`` free; ``Sigma = L L'``,
``L`` lower triangular with ``exp`` diagonal, in the working units ``z_j = (x_j - m_j) /
s_j`` (observed mean and SD; an affine change that only helps the conditioning). The
objective ``-ell / n`` is minimised by BFGS with central-difference gradients
(``jac="3-point"``, ``gtol = 1e-10``), restarted once from its own answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from scipy import optimize, special, stats

__all__ = ["glom_loglik", "glom_mle", "maximise"]


def glom_loglik(codes: np.ndarray, x: np.ndarray, levels: list[int], pi: np.ndarray, means: np.ndarray, sigma: np.ndarray) -> float:
    """Observed-data log-likelihood; ``codes`` (n, J) with -1 missing, ``x`` (n, p) NaN missing.

    ``pi`` (C,) and ``means`` (C, p) in ``itertools.product(*(range(L) for L in levels))`` order.
    """
    cells = np.array(list(itertools.product(*(range(L) for L in levels))), dtype=int).reshape(-1, len(levels))
    n, p = x.shape
    with np.errstate(divide="ignore"):
        logpi = np.log(pi)
    dens = np.tile(logpi, (n, 1))
    obs = ~np.isnan(x)
    keys, inverse = np.unique(obs, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    for g, o in enumerate(keys):
        if not o.any():
            continue
        rows = np.flatnonzero(inverse == g)
        for c in range(cells.shape[0]):
            dens[rows, c] += np.atleast_1d(stats.multivariate_normal.logpdf(x[np.ix_(rows, o)], means[c, o], sigma[np.ix_(o, o)]))
    for j in range(len(levels)):
        seen = codes[:, j] >= 0
        dens[seen[:, None] & (cells[None, :, j] != codes[:, j : j + 1])] = -np.inf
    return float(special.logsumexp(dens, axis=1).sum())


def _design(levels: list[int]) -> np.ndarray:
    rows = []
    for cell in itertools.product(*(range(L) for L in levels)):
        row = [1.0]
        for j, L in enumerate(levels):
            row += [1.0 if cell[j] == v else 0.0 for v in range(1, L)]
        rows.append(row)
    return np.array(rows)


def glom_mle(
    codes: np.ndarray, x: np.ndarray, levels: list[int], additive: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Maximise the observed-data log-likelihood from complete-case start values.

    Returns
    -------
    pi (C,), means (C, p), sigma (p, p), loglik
        The maximiser in original units (cells in ``itertools.product`` order) and its log-likelihood.
    """
    k = int(np.prod(levels))
    return maximise(codes, x, levels, np.eye(k)[:, 1:], _design(levels) if additive else np.eye(k),
                    lambda counts: np.log(counts[1:] / counts[0]))


def maximise(
    codes: np.ndarray, x: np.ndarray, levels: list[int], prob_design: np.ndarray, mean_design: np.ndarray,
    prob_start: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """BFGS on ``theta = (lambda, vec B, vech L)``: ``pi = softmax(prob_design lambda)``, ``mu = mean_design B``.

    ``prob_start(counts)``: the start of ``lambda`` from the complete-case cell counts (plus one).
    Returns as :func:`glom_mle`.
    """
    n, p = x.shape
    m, s = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    z = (x - m) / s
    k = prob_design.shape[0]
    a, d = prob_design.shape[1], mean_design
    tril = np.tril_indices(p)
    diag = np.arange(p)

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        eta = prob_design @ theta[:a]
        pi = np.exp(eta - special.logsumexp(eta))
        coef = theta[a : a + d.shape[1] * p].reshape(d.shape[1], p)
        L = np.zeros((p, p))
        L[tril] = theta[a + d.shape[1] * p :]
        L[diag, diag] = np.exp(L[diag, diag])
        return pi, d @ coef, L @ L.T

    # start: complete-case cell frequencies (plus one), least-squares means of the complete cases, identity
    full = (codes >= 0).all(axis=1) & ~np.isnan(z).any(axis=1)
    idx = np.ravel_multi_index(tuple(codes[full].T), levels)
    counts = np.bincount(idx, minlength=k) + 1.0
    coef0 = np.linalg.lstsq(d[idx], z[full], rcond=None)[0]
    theta = np.concatenate([prob_start(counts), coef0.reshape(-1), np.zeros(tril[0].size)])

    def f(theta: np.ndarray) -> float:
        pi, mu, sig = unpack(theta)
        return -glom_loglik(codes, z, levels, pi, mu, sig) / n

    for _ in range(2):
        theta = optimize.minimize(f, theta, method="BFGS", jac="3-point", options={"gtol": 1e-10, "maxiter": 20000}).x
    pi, mu, sig = unpack(theta)
    means, sigma = m + s * mu, sig * np.outer(s, s)
    return pi, means, sigma, glom_loglik(codes, x, levels, pi, means, sigma)
