r"""The multivariate t with missing values as an EM problem (:class:`TProblem`) and its fit (:func:`fit_t`).

ECME (Liu & Rubin 1995; Liu 1997) in standardised units (:mod:`imputer.mvn._scaling`).
One evaluation of the map ``F`` at ``theta = (mu, Sigma, nu)``:

* E-step: the row weights ``tau_i = (nu + p_i)/(nu + d_i^2)``
  (:func:`imputer.mvt._likelihood.tau`) and the weighted Gaussian E-step
  (:func:`imputer._gaussian.estep.estep` with ``weights = tau``, ``cov_weights = 1``),
  since ``E[tau_i z_i | z_O] = tau_i zhat_i`` and
  ``E[tau_i z_i z_i' | z_O] = tau_i zhat_i zhat_i' + C_{M_i}`` (``C_M`` does not depend
  on ``tau``);
* CM-step 1, ``(mu, Sigma)`` at fixed ``nu``:

  .. math::

      \mu' = \frac{\sum_i \tau_i \hat z_i}{\sum_i \tau_i}, \qquad
      \Sigma' = \frac{\sum_i \tau_i (\hat z_i - \mu')(\hat z_i - \mu')^\top + \sum_i C_{M_i} + \lambda I}{n + \lambda}

  (:func:`imputer._gaussian.objective.mstep`; ``lambda`` the ridge prior's pseudo-rows,
  as in :func:`imputer.impute`);
* CM-step 2 (when ``nu`` is estimated): ``nu'`` maximises the *observed-data*
  log-likelihood over ``nu`` at ``(mu', Sigma')`` in :data:`~imputer.mvt._likelihood.DOF_BOUNDS`
  (:func:`~imputer.mvt._likelihood.best_dof`).

Each CM-step raises the objective, the observed-data t log-likelihood minus the ridge
penalty ``(lambda/2)[log|Sigma| + tr(Sigma^-1)]``, so EM never decreases it.

Packed parameter: ``x = (mu, vech(Sigma))``, and ``log nu`` last when ``nu`` is
estimated. Feasible: ``Sigma`` numerically positive definite (as for the normal,
:class:`imputer.mvn._problem.MVNProblem`); a ``log nu`` outside the bounds (a SQUAREM
extrapolation) is evaluated at the nearest bound. Convergence measure: the normal's
(largest change in standard-deviation units) and ``|log nu' - log nu|``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from imputer._em import EMTrace, TraceFields, run_em
from imputer._gaussian.estep import estep
from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible, precision
from imputer._gaussian.objective import mstep, ridge_penalty
from imputer.mvn._fit import corr_feasible, min_corr_eig, start_values
from imputer.mvn._problem import NEAR_SINGULAR_EIG, MVNProblem
from imputer.mvt._likelihood import DOF_BOUNDS, RowTerms, best_dof, row_terms, t_loglik, tau

__all__ = ["TFit", "TParams", "TProblem", "fit_t"]


class TParams(NamedTuple):
    """Typed parameters of the t: ``mu`` shape (p,), ``sigma`` (the scale) shape (p, p), ``nu``."""

    mu: np.ndarray
    sigma: np.ndarray
    nu: float


class TProblem:
    """ECME for ``t_p(mu, Sigma, nu)`` on standardised incomplete data (an :class:`~imputer._em.EMProblem`).

    Parameters
    ----------
    data : StandardData
        Standardised data with its complete rows kept (``keep_complete=True``); the
        E-step overwrites the incomplete rows of its work array with conditional means.
    ridge : float
        Prior strength ``lambda >= 0`` in pseudo-rows.
    dof : float or None
        Fixed degrees of freedom, or None to estimate them in ``DOF_BOUNDS``.
    """

    def __init__(self, data: StandardData, ridge: float, dof: float | None) -> None:
        self.data = data
        self.ridge = float(ridge)
        self.dof = dof
        self._gauss = MVNProblem(data, ridge)  # packing and distance of (mu, Sigma)
        self._k = self._gauss.dim
        self._ones = np.ones(data.n)
        self._terms: tuple[bytes, RowTerms] | None = None  # the last row terms, by (mu, Sigma)

    @property
    def estimate_dof(self) -> bool:
        return self.dof is None

    @property
    def dim(self) -> int:
        """``p + p(p+1)/2``, plus 1 when ``nu`` is estimated."""
        return self._k + (1 if self.estimate_dof else 0)

    def pack(self, params: TParams) -> np.ndarray:
        """``x = (mu, vech(Sigma)[, log nu])``, shape (dim,)."""
        x = self._gauss.pack((params.mu, params.sigma))
        return np.append(x, np.log(params.nu)) if self.estimate_dof else x

    def unpack(self, x: np.ndarray) -> TParams:
        """Typed parameters (fresh arrays); an estimated ``nu`` is clipped to ``DOF_BOUNDS``."""
        mu, sigma = self._gauss.unpack(x[: self._k])
        if self.dof is not None:
            return TParams(mu, sigma, float(self.dof))
        t, (lo, hi) = float(x[self._k]), DOF_BOUNDS
        # at or beyond a bound (its own log, packed): the bound itself, exactly
        nu = lo if t <= np.log(lo) else hi if t >= np.log(hi) else float(np.exp(t))
        return TParams(mu, sigma, nu)

    def feasible(self, x: np.ndarray) -> bool:
        """Whether the scale matrix is numerically positive definite (and ``log nu`` not NaN)."""
        if self.estimate_dof and np.isnan(x[self._k]):
            return False
        return self._gauss.feasible(x[: self._k])

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        """The normal's distance on ``(mu, Sigma)`` and ``|log nu' - log nu|`` (module docstring)."""
        d = self._gauss.distance(x_old[: self._k], x_new[: self._k])
        if self.estimate_dof:
            d = max(d, float(abs(x_new[self._k] - x_old[self._k])))
        return d

    def terms(self, mu: np.ndarray, sigma: np.ndarray) -> RowTerms:
        """:class:`RowTerms` at ``(mu, sigma)`` (the last ones kept: CM-step 2 computes those of the next step)."""
        key = mu.tobytes() + sigma.tobytes()
        if self._terms is None or self._terms[0] != key:
            self._terms = (key, row_terms(self.data, mu, sigma))
        return self._terms[1]

    def objective(self, params: TParams) -> tuple[float, float, RowTerms]:
        """``(loglik, objective, row terms)`` at ``params``; raises :class:`Infeasible` if not valid."""
        if not corr_feasible(params.sigma):
            raise Infeasible("scale matrix not positive definite")
        terms = self.terms(params.mu, params.sigma)
        ll = t_loglik(terms, params.nu)
        obj = ll - ridge_penalty(self.ridge, params.sigma)
        if not np.isfinite(obj):
            raise Infeasible("non-finite objective")
        return ll, obj, terms

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        """The ECME map: ``(F(x), L(x))``; ``L = -inf`` if ``x`` is infeasible, ``F = None`` if its update is singular."""
        mu, sigma, nu = params = self.unpack(x)
        try:
            _, obj, terms = self.objective(params)
            prec = precision(sigma)
            stats = estep(self.data, mu, sigma, weights=tau(terms, nu), cov_weights=self._ones, prec=prec)
        except Infeasible:
            return x, -np.inf
        mu_new, sigma_new = mstep(stats, mu, self.ridge)
        if not corr_feasible(sigma_new):
            return None, obj
        nu_new = nu
        if self.estimate_dof:
            try:
                nu_new = best_dof(self.terms(mu_new, sigma_new), nu)
            except Infeasible:
                return None, obj
        return self.pack(TParams(mu_new, sigma_new, nu_new)), obj


@dataclass(frozen=True, eq=False)
class TFit(TraceFields):
    """What the ECME fit of the t produced (standardised units).

    Attributes
    ----------
    mu : ndarray, shape (p,)
    sigma : ndarray, shape (p, p)
        The scale matrix.
    nu : float
        Degrees of freedom (fixed or estimated).
    loglik, objective : float
        Observed-data log-likelihood at the estimate, and it minus the ridge penalty.
    singular : bool
        As :attr:`imputer.mvn._problem.MVNFit.singular`.
    min_eig : float
        Smallest eigenvalue of the scale's correlation matrix.
    terms : RowTerms
        ``d_i^2`` and ``p_i`` at the estimate (row weights, conditional variances).
    trace : EMTrace
        ``history`` in standardised units.
    """

    mu: np.ndarray = field(repr=False)
    sigma: np.ndarray = field(repr=False)
    nu: float
    loglik: float
    objective: float
    singular: bool
    min_eig: float
    terms: RowTerms = field(repr=False)
    trace: EMTrace


def fit_t(data: StandardData, *, dof: float | None, tol: float, max_iter: int, ridge: float, accelerate: bool) -> TFit:
    """ECME (SQUAREM-accelerated unless ``accelerate`` is False) from the normal's start values.

    The start is :func:`~imputer.mvn._fit.start_values` for ``(mu, Sigma)`` and, when
    ``dof`` is None, the best ``nu`` there (CM-step 2 at the start).
    """
    problem = TProblem(data, ridge, dof)
    mu0, sigma0 = start_values(data)
    nu0 = float(dof) if dof is not None else best_dof(problem.terms(mu0, sigma0), 10.0)
    run = run_em(problem, problem.pack(TParams(mu0, sigma0, nu0)), tol=tol, max_iter=max_iter, accelerate=accelerate)
    trace = run.trace
    params = problem.unpack(run.x)
    fell_back = False
    try:
        ll, obj, terms = problem.objective(params)
    except Infeasible:
        fell_back = True
        params = problem.unpack(run.best)
        ll, obj, terms = problem.objective(params)  # the best iterate passed the E-step
    min_eig = min_corr_eig(params.sigma)
    singular = fell_back or trace.stop_reason == "singular" or min_eig < NEAR_SINGULAR_EIG
    if singular and trace.stop_reason != "singular":
        trace = dataclasses.replace(trace, converged=False, stop_reason="singular")
    return TFit(
        mu=params.mu,
        sigma=params.sigma,
        nu=params.nu,
        loglik=ll,
        objective=obj,
        singular=singular,
        min_eig=min_eig,
        terms=terms,
        trace=trace,
    )
