r"""A fitted model's conditional distribution of the missing cells, its moments and draws (private).

Every model :func:`imputer.multiple_impute` supports gives each row's missing cells
``z_M`` given its observed cells ``z_O`` as a scale mixture of a finite mixture of
conditional normals (standardised units of a layout): with components ``k = 1..K`` of
means ``mu_k`` and covariances ``Sigma_k``, row ``i`` draws a component ``k`` with
probability ``r_ik`` and a positive factor ``u_i``, then

.. math::

    z_M = \hat z_{ik,M} + \sqrt{u_i}\, L_{kM} e, \qquad e \sim N(0, I_m),\quad
    L_{kM} L_{kM}' = C_{kM} = \Sigma_{k,MM} - \Sigma_{k,MO}\Sigma_{k,OO}^{-1}\Sigma_{k,OM},

with ``zhat_ik,M`` the conditional mean under component ``k``
(:mod:`imputer._gaussian.rows`).

* normal: ``K = 1``, ``u_i = 1``;
* Gaussian mixture: ``r_ik`` the row's responsibilities given its observed cells,
  ``u_i = 1``;
* multivariate t (``nu`` dof, scale ``Sigma``): ``K = 1`` and ``u_i = (nu + d_i^2) / chi^2_{nu + p_i}``
  (``d_i^2`` the observed part's Mahalanobis distance, ``p_i`` its observed cells), so
  ``z_M`` is the conditional multivariate t with ``nu + p_i`` dof and scale
  ``(nu + d_i^2)/(nu + p_i) C_M``.

:class:`ConditionalModel` holds these pieces; :func:`draw_conditional` draws from any of
them and :func:`conditional_moments` gives the conditional mean and variance of each cell,

.. math::

    E[z_j | z_O] = \sum_k r_{ik} \hat z_{ik,j}, \qquad
    \operatorname{Var}[z_j | z_O] = \sum_k r_{ik}\big(E[u_i] C_{kM,jj} + \hat z_{ik,j}^2\big) - E[z_j | z_O]^2,

with ``E[u_i] = (nu + d_i^2)/(nu + p_i - 2)`` for the t (infinite when ``nu + p_i <= 2``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._gaussian.layout import StandardData
from imputer._gaussian.rows import conditional_draws, conditional_means
from imputer.mixture._kernel import MixturePlan
from imputer.mvn._fit import conditional_variances
from imputer.mvt._likelihood import row_terms

__all__ = ["ConditionalModel", "conditional_moments", "draw_conditional", "mixture_model", "normal_model", "t_model"]


@dataclass(frozen=True, eq=False)
class ConditionalModel:
    """The conditional distribution of every row's missing cells (module docstring).

    Attributes
    ----------
    means : ndarray, shape (K, p)
    covs : ndarray, shape (K, p, p)
    resp : ndarray, shape (n, K), or None
        ``r_ik`` (None: one component).
    scale_num, scale_dof : ndarray, shape (n,), or None
        ``u_i = scale_num_i / chi^2_{scale_dof_i}`` (None: ``u_i = 1``).
    """

    means: np.ndarray
    covs: np.ndarray
    resp: np.ndarray | None = None
    scale_num: np.ndarray | None = None
    scale_dof: np.ndarray | None = None


def normal_model(mu: np.ndarray, sigma: np.ndarray) -> ConditionalModel:
    """``N_p(mu, Sigma)``."""
    return ConditionalModel(mu[None, :], sigma[None, :, :])


def t_model(data: StandardData, mu: np.ndarray, scale: np.ndarray, nu: float) -> ConditionalModel:
    """``t_p(mu, scale, nu)`` on the rows of ``data`` (with its complete rows kept)."""
    terms = row_terms(data, mu, scale)
    return ConditionalModel(mu[None, :], scale[None, :, :], scale_num=nu + terms.maha, scale_dof=nu + terms.n_obs)


def mixture_model(data: StandardData, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> ConditionalModel:
    """The Gaussian mixture ``sum_k pi_k N_p(mu_k, Sigma_k)`` on the rows of ``data`` (complete rows kept)."""
    cp = MixturePlan(data, weights.size).run(weights, means, covs, stats=False, rows=True)
    return ConditionalModel(means, covs, resp=cp.resp)


def _labels(model: ConditionalModel, n: int, rng: np.random.Generator) -> np.ndarray:
    if model.resp is None or model.resp.shape[1] == 1:
        return np.zeros(n, dtype=np.intp)
    cum = np.cumsum(model.resp, axis=1)
    u = rng.random(n) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), model.resp.shape[1] - 1)


def draw_conditional(data: StandardData, model: ConditionalModel, rng: np.random.Generator) -> np.ndarray:
    """Every row with its missing cells drawn from the model, shape (n, p), original row order.

    Observed cells are those of ``data`` exactly. The generator gives, in order: the
    components (``random(n)``, when ``K > 1``), the scale factors (``chisquare``, for
    the t), then each component's normal deviates
    (:func:`~imputer._gaussian.rows.conditional_draws`).
    """
    n, k = data.n, model.means.shape[0]
    labels = _labels(model, n, rng)
    factor = None
    if model.scale_num is not None and model.scale_dof is not None:
        factor = np.sqrt(model.scale_num / rng.chisquare(model.scale_dof))[:, None]
    out = np.empty((n, data.p))
    for j in range(k):
        mean = conditional_means(data, model.means[j], model.covs[j])
        noise = conditional_draws(data, model.means[j], model.covs[j], rng) - mean  # 0 at observed cells
        if factor is not None:
            noise *= factor
        rows = labels == j
        out[rows] = mean[rows] + noise[rows]
    return out


def conditional_moments(data: StandardData, model: ConditionalModel) -> tuple[np.ndarray, np.ndarray]:
    """Conditional means and variances of every cell, shapes (n, p) each (observed: the value and 0)."""
    n, p, k = data.n, data.p, model.means.shape[0]
    expected_u = np.ones(n)
    if model.scale_num is not None and model.scale_dof is not None:
        with np.errstate(divide="ignore"):
            expected_u = np.where(model.scale_dof > 2.0, model.scale_num / (model.scale_dof - 2.0), np.inf)
    resp = np.ones((n, 1)) if model.resp is None else model.resp
    mean = np.zeros((n, p))
    second = np.zeros((n, p))
    for j in range(k):
        zhat = conditional_means(data, model.means[j], model.covs[j])
        v = np.zeros((n, p))
        conditional_variances(data.patterns, model.covs[j], np.ones(p), v)
        with np.errstate(invalid="ignore"):
            v = np.where(v > 0.0, v * expected_u[:, None], 0.0)
        r = resp[:, j : j + 1]
        mean += r * zhat
        second += r * (v + zhat * zhat)
    return mean, np.clip(second - mean * mean, 0.0, None)
