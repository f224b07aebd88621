r"""The Gaussian mixture with missing cells as an EM problem (Ghahramani & Jordan, 1994).

Model (standardised units): row ``z_i`` comes from component ``k`` with probability
``pi_k`` and is then ``N_p(mu_k, Sigma_k)``; cells are missing at random. The objective
is the observed-data log-likelihood, minus the ridge penalty (a log-posterior),

.. math::

    \ell(\theta) = \sum_i \log \sum_k \pi_k N(z_{i,O_i}; \mu_{k,O_i}, \Sigma_{k,O_iO_i})
        \;-\; \tfrac{\lambda}{2}\sum_{\text{priors}} \big[\log|\Sigma| + \operatorname{tr}\Sigma^{-1}\big].

E-step at ``theta``: one pass over the rows for all components
(:class:`~imputer.mixture._kernel.MixturePlan`) gives the per-component log-densities of
the observed parts, the responsibilities ``r_ik = pi_k N_ik / sum_l pi_l N_il`` (by
log-sum-exp, which also gives ``ell``) and each component's weighted Gaussian E-step
statistics (``w = v = r_{.k}``): ``N_k = sum_i r_ik``, ``sum_i r_ik zhat_ik`` and the
expected second moments ``sum_i r_ik (zhat_ik zhat_ik' + C_{kM_i})``, the conditional
expectations ``zhat_ik`` and covariances ``C_{kM_i}`` taken under component ``k`` (in
closed form per pattern from the responsibility-weighted moments of its observed cells,
:mod:`imputer.mixture._patterns`). M-step: ``pi_k = N_k / n``, ``mu_k = sum_i r_ik zhat_ik / N_k``,
the expected scatter ``A_k = sum_i r_ik E_k[z z'] - N_k mu_k mu_k'`` and the covariance
of the structure (:mod:`imputer.mixture._covtypes`). Each EM step never decreases the
objective.

Packed parameter ``x = (pi, vec(mu), covariance parameters)``. SQUAREM's extrapolation
``x0 - 2 a r + a^2 v`` is an affine combination of EM iterates, so it keeps
``sum pi = 1`` and each structure's zeros; :meth:`MixtureProblem.feasible` rejects a
point with a weight ``<= 0`` or an invalid covariance.

Feasible covariance: every component's correlation matrix has smallest eigenvalue at
least :data:`~imputer.mvn._fit.SINGULAR_EIG` and every variance is at least
:data:`VAR_FLOOR` (standardised units). A component collapsing onto a few rows (the
likelihood is unbounded there) drives its covariance below these; the update is then
reported singular and the driver stops at the best feasible iterate (``stop_reason
="singular"``). So does a component whose weight ``N_k`` falls below :data:`WEIGHT_FLOOR`.

Convergence measure: the largest change of a weight, or of a mean or covariance entry
in standard-deviation units of the older iterate (as for the single normal).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from imputer._em import EMTrace, TraceFields, run_em
from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible
from imputer.mixture._covtypes import CovarianceType
from imputer.mixture._kernel import ComponentPass, MixturePlan
from imputer.mixture._pass import precisions
from imputer.mvn._fit import corr_feasible

__all__ = ["Evaluation", "MixtureFit", "MixtureParams", "MixtureProblem", "fit_start"]

#: Smallest variance (standardised units: SD 1e-5 of the column's) of a valid component.
VAR_FLOOR = 1e-10
#: Smallest ``N_k`` (expected rows) of a component whose M-step is taken.
WEIGHT_FLOOR = 1e-8


class MixtureParams(NamedTuple):
    """``weights`` (K,), ``means`` (K, p), ``covs`` (K, p, p), standardised units."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray


class Evaluation(NamedTuple):
    """The E-step quantities at a point: ``loglik``, ``objective``, ``resp`` (n, K), ``log_dens`` (n, K)."""

    loglik: float
    objective: float
    resp: np.ndarray
    log_dens: np.ndarray


def valid_cov(sigma: np.ndarray) -> bool:
    """Variances at least :data:`VAR_FLOOR` and correlation eigenvalues at least ``SINGULAR_EIG``.

    The eigenvalue bound by one Cholesky factorisation (:func:`~imputer.mvn._fit.corr_feasible`,
    as the normal's EM map checks its updates).
    """
    return bool(np.all(np.diag(sigma) >= VAR_FLOOR)) and corr_feasible(sigma)


class MixtureProblem:
    """EM for a ``K``-component Gaussian mixture on standardised incomplete data (an ``EMProblem``).

    Parameters
    ----------
    data : StandardData
        Layout with its complete rows kept (weighted E-steps need them); its work array
        is overwritten by the E-steps.
    cov_type : CovarianceType
    ridge : float
        Prior strength ``lambda >= 0`` per covariance (0: maximum likelihood).
    """

    def __init__(self, data: StandardData, cov_type: CovarianceType, ridge: float) -> None:
        self.data, self.cov_type, self.ridge = data, cov_type, float(ridge)
        self.k, self.p = cov_type.k, cov_type.p
        self.plan = MixturePlan(data, self.k)
        # the last point known to be feasible (see feasible)
        self._feasible: np.ndarray | None = None

    def pack(self, params: MixtureParams | tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """``x = (pi, vec(mu), covariance parameters)``."""
        weights, means, covs = params
        return np.concatenate([weights, means.reshape(-1), self.cov_type.pack(covs)])

    def unpack(self, x: np.ndarray) -> MixtureParams:
        """Typed parameters of ``x`` (fresh arrays)."""
        k, p = self.k, self.p
        return MixtureParams(x[:k].copy(), x[k : k + k * p].reshape(k, p).copy(), self.cov_type.unpack(x[k + k * p :]))

    def feasible(self, x: np.ndarray) -> bool:
        """Positive weights and valid covariances (module docstring).

        The last point found feasible, here or as an update of :meth:`step` (which checks
        its covariances anyway), is remembered by value: SQUAREM checks an extrapolated
        point and then evaluates it, and evaluates the updates it was given, so each
        check would otherwise be made twice (``K`` Cholesky factorisations each).
        """
        known = self._feasible
        if known is not None and x.shape == known.shape and np.array_equal(x, known):
            return True
        if not np.all(np.isfinite(x)):
            return False
        params = self.unpack(x)
        ok = bool(np.all(params.weights > 0.0)) and all(valid_cov(c) for c in params.covs)
        if ok:
            self._feasible = np.array(x, dtype=float)
        return ok

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        """Largest change of a weight, or of a mean or covariance entry in SD units of ``x_old``."""
        a, b = self.unpack(x_old), self.unpack(x_new)
        sd = np.sqrt(np.abs(np.diagonal(a.covs, axis1=1, axis2=2)))
        sd = np.where(sd > 0.0, sd, np.inf)
        d_pi = np.abs(b.weights - a.weights).max()
        d_mu = (np.abs(b.means - a.means) / sd).max()
        d_cov = (np.abs(b.covs - a.covs) / (sd[:, :, None] * sd[:, None, :])).max()
        return float(max(d_pi, d_mu, d_cov))

    def evaluate(self, params: MixtureParams) -> Evaluation:
        """Responsibilities, log-likelihood and objective at ``params``.

        Raises
        ------
        Infeasible
            A covariance (or a block of its inverse) not positive definite.
        """
        cp = self.plan.run(*params, stats=False, rows=True)
        assert cp.resp is not None and cp.log_dens is not None
        return Evaluation(cp.loglik, cp.loglik - self._penalty(cp, params.covs), cp.resp, cp.log_dens)

    def _penalty(self, cp: ComponentPass, covs: np.ndarray) -> float:
        """The ridge prior's term at ``covs``: 0 without a ridge (no inverse computed)."""
        if self.ridge <= 0.0:
            return 0.0
        precs, logdets = (cp.precs, cp.logdets) if cp.precs is not None and cp.logdets is not None else precisions(covs)
        return self.cov_type.penalty(self.ridge, list(zip(precs, logdets)))

    def update(self, cp: ComponentPass) -> MixtureParams | None:
        """The M-step from the statistics of one pass (None if a weight vanishes)."""
        assert cp.nk is not None and cp.s1 is not None and cp.s2 is not None
        nk = cp.nk
        if not np.all(nk > WEIGHT_FLOOR):
            return None
        means = cp.s1 / nk[:, None]
        # expected scatter about the new mean: S2 - N mu mu'
        scatters = cp.s2 - nk[:, None, None] * means[:, :, None] * means[:, None, :]
        scatters = 0.5 * (scatters + scatters.transpose(0, 2, 1))
        covs = self.cov_type.mstep(scatters, nk, self.ridge)
        return MixtureParams(nk / nk.sum(), means, covs)

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        """The EM map ``(F(x), L(x))``; ``L = -inf`` if ``x`` is infeasible, ``F = None`` if its update is singular."""
        if not self.feasible(x):
            return x, -np.inf
        params = self.unpack(x)
        try:
            cp = self.plan.run(*params)
            objective = cp.loglik - self._penalty(cp, params.covs)
        except Infeasible:
            return x, -np.inf
        new = self.update(cp)
        if new is None or not all(valid_cov(c) for c in new.covs):
            return None, objective
        fx = self.pack(new)
        # the covariances are exactly symmetric, so those of unpack(fx) are these: fx is
        # feasible when also finite with positive weights
        if np.all(np.isfinite(fx)) and np.all(new.weights > 0.0):
            self._feasible = fx.copy()
        return fx, objective


@dataclass(frozen=True, eq=False)
class MixtureFit(TraceFields):
    """One EM run of the mixture (standardised units).

    Attributes
    ----------
    params : MixtureParams
    evaluation : Evaluation
        At ``params``.
    singular : bool
        A component collapsed (``trace.stop_reason == "singular"``): ``params`` is the
        best feasible iterate, no maximum.
    trace : EMTrace
    """

    params: MixtureParams = field(repr=False)
    evaluation: Evaluation = field(repr=False)
    singular: bool
    trace: EMTrace


def fit_start(problem: MixtureProblem, start: MixtureParams, *, tol: float, max_iter: int, accelerate: bool = True) -> MixtureFit:
    """EM (SQUAREM unless ``accelerate`` is False) from ``start``; the estimate evaluated.

    Raises
    ------
    Infeasible
        ``start`` is not a valid mixture.
    """
    run = run_em(problem, problem.pack(start), tol=tol, max_iter=max_iter, accelerate=accelerate)
    trace = run.trace
    if trace.stop_reason == "infeasible":
        raise Infeasible("infeasible start")
    x = run.x
    singular = trace.stop_reason == "singular"
    if not problem.feasible(x):  # an unevaluated update past the edge: the best iterate instead
        x, singular = run.best, True
    params = problem.unpack(x)
    try:
        ev = problem.evaluate(params)
    except Infeasible:
        params = problem.unpack(run.best)
        ev = problem.evaluate(params)
        singular = True
    if singular and trace.converged:
        trace = dataclasses.replace(trace, converged=False, stop_reason="singular")
    return MixtureFit(params=params, evaluation=ev, singular=singular, trace=trace)
