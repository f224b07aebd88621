r"""The general location model with missing cells as an EM problem (Little & Schluchter, 1985).

Model (standardised continuous units): cell ``c`` of the categorical columns has
probability ``pi_c`` (saturated multinomial); given the cell the continuous columns are
``N_p(mu_c, Sigma)`` with a common ``Sigma``; cell means saturated (``mu_c`` free) or
additive (``mu_c = B' d_c``, main effects of each categorical column, :mod:`imputer.glom._cells`).
The objective is the observed-data log-likelihood (Schafer 1997, ch. 9)

.. math::

    \ell(\pi, \mu, \Sigma) = \sum_i \log \sum_{c \in \mathcal C_i} \pi_c\,
        N(z_{i,O_i}; \mu_{c,O_i}, \Sigma_{O_iO_i}).

E-step: :class:`~imputer.glom._estep.GlomPlan` (``N_c``, ``s_c``, ``T``). M-step:
``pi_c = N_c / n``; saturated ``mu_c = s_c / N_c``; additive ``B = (D' diag(N) D)^{-1}
D' S`` (with one design for every continuous column, least squares is the maximum
whatever ``Sigma``, so this is an exact M-step), ``mu = D B``; then

.. math::

    \Sigma = \tfrac1n \Big[T - \sum_c (s_c \mu_c^\top + \mu_c s_c^\top - N_c \mu_c \mu_c^\top)\Big].

Each EM step never decreases ``ell``. Packed parameter ``x = (pi, vec(mu), vech(Sigma))``;
SQUAREM's extrapolation is an affine combination of EM iterates, so it keeps ``sum pi =
1`` and additive means additive; :meth:`GlomProblem.feasible` rejects a negative
probability or a covariance that is not valid (as for the mixture: variances at least
``VAR_FLOOR``, correlation eigenvalues at least ``SINGULAR_EIG``).

Log-linear probabilities (``probabilities="pairwise"``, :mod:`imputer.glom._loglinear`):
the M-step of ``pi`` is IPF from the current ``pi`` to the margins of ``N / n`` (ECM,
monotone), and the packed vector holds ``log pi`` (floored at ``LOG_FLOOR``) instead of
``pi``, so that SQUAREM's affine combinations of iterates stay in the model (log-linear
in the same terms; ``pi = softmax``), where an affine combination of the probabilities
themselves would not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from imputer._em import EMTrace, TraceFields, run_em
from imputer._gaussian.linalg import Infeasible
from imputer.glom._estep import GlomPass, GlomPlan
from imputer.glom._loglinear import ipf
from imputer.mixture._problem import WEIGHT_FLOOR, valid_cov

__all__ = ["LOG_FLOOR", "GlomFit", "GlomParams", "GlomProblem", "fit_glom", "start_params"]

#: Packed ``log pi`` of the log-linear model is at least this (``exp`` of it is 0.0 or subnormal).
LOG_FLOOR = -745.0


class GlomParams(NamedTuple):
    """``pi`` (C,), ``means`` (C, p), ``sigma`` (p, p), standardised units."""

    pi: np.ndarray
    means: np.ndarray
    sigma: np.ndarray


class GlomProblem:
    """EM for the general location model (an ``EMProblem``).

    Parameters
    ----------
    plan : GlomPlan
    design : ndarray, shape (C, d), or None
        The additive design ``D`` (None: saturated means).
    loglinear : bool, default False
        Pairwise log-linear cell probabilities (IPF M-step) instead of saturated ones.
    """

    def __init__(self, plan: GlomPlan, design: np.ndarray | None, loglinear: bool = False) -> None:
        self.plan, self.design = plan, design
        self.loglinear = loglinear and len(plan.cells.names) > 0
        self.k, self.p, self.n = plan.cells.n_cells, plan.p, plan.n
        self._tri = np.triu_indices(self.p)

    def pack(self, params: GlomParams) -> np.ndarray:
        pi, means, sigma = params
        if self.loglinear:
            with np.errstate(divide="ignore"):
                pi = np.maximum(np.log(pi), LOG_FLOOR)
        return np.concatenate([pi, means.reshape(-1), sigma[self._tri]])

    def unpack(self, x: np.ndarray) -> GlomParams:
        k, p = self.k, self.p
        sigma = np.zeros((p, p))
        sigma[self._tri] = x[k + k * p :]
        sigma = sigma + np.triu(sigma, 1).T
        pi = x[:k].copy()
        if self.loglinear:
            pi = np.exp(pi - pi.max())
            pi /= pi.sum()
        return GlomParams(pi, x[k : k + k * p].reshape(k, p).copy(), sigma)

    def feasible(self, x: np.ndarray) -> bool:
        if not np.all(np.isfinite(x)):
            return False
        params = self.unpack(x)
        return bool(np.all(params.pi >= 0.0)) and (self.p == 0 or valid_cov(params.sigma))

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        """Largest change of a probability, or of a mean or covariance entry in SD units of ``x_old``."""
        a, b = self.unpack(x_old), self.unpack(x_new)
        out = float(np.abs(b.pi - a.pi).max())
        if self.p:
            sd = np.sqrt(np.abs(np.diag(a.sigma)))
            sd = np.where(sd > 0.0, sd, np.inf)
            out = max(out, float((np.abs(b.means - a.means) / sd).max()))
            out = max(out, float((np.abs(b.sigma - a.sigma) / np.outer(sd, sd)).max()))
        return out

    def update(self, gp: GlomPass, pi_old: np.ndarray) -> GlomParams | None:
        """The M-step (None when a saturated cell mean has no weight); ``pi_old`` starts the IPF."""
        assert gp.nk is not None and gp.s1 is not None and gp.t is not None
        nk, s1 = gp.nk, gp.s1
        pi = nk / nk.sum()
        if self.loglinear:
            pi = ipf(pi, pi_old, self.plan.cells.shape)
        if self.design is None:
            if not np.all(nk > WEIGHT_FLOOR):
                return None
            means = s1 / nk[:, None]
        else:
            d = self.design
            try:
                coef = np.linalg.solve(d.T @ (nk[:, None] * d), d.T @ s1)
            except np.linalg.LinAlgError:
                return None
            means = d @ coef
        cross = s1.T @ means
        sigma = (gp.t - cross - cross.T + means.T @ (nk[:, None] * means)) / self.n
        return GlomParams(pi, means, 0.5 * (sigma + sigma.T))

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        if not self.feasible(x):
            return x, -np.inf
        try:
            params = self.unpack(x)
            gp, _, _ = self.plan.run(*params)
        except Infeasible:
            return x, -np.inf
        new = self.update(gp, params.pi)
        if new is None or (self.p and not valid_cov(new.sigma)):
            return None, gp.loglik
        return self.pack(new), gp.loglik


@dataclass(frozen=True, eq=False)
class GlomFit(TraceFields):
    """One EM run: ``params``, ``loglik`` (standardised units), ``zfill`` (n, p), ``posteriors``, ``singular``, ``trace``.

    ``posteriors`` as returned by :meth:`GlomPlan.run <imputer.glom._estep.GlomPlan.run>`.
    """

    params: GlomParams = field(repr=False)
    loglik: float
    zfill: np.ndarray = field(repr=False)
    posteriors: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)
    singular: bool
    trace: EMTrace


def start_params(plan: GlomPlan, codes: np.ndarray, loglinear: bool = False) -> GlomParams:
    """Cell counts of the rows with every categorical cell observed (plus one each), means 0, ``Sigma = I``.

    With ``loglinear`` the probabilities are the pairwise model's fit to those counts (IPF
    from uniform), so that the start lies in the model.
    """
    k = plan.cells.n_cells
    full = (codes >= 0).all(axis=1)
    counts = np.bincount(plan.cells.cell_of(codes[full]), minlength=k).astype(float) + 1.0
    pi = counts / counts.sum()
    if loglinear and plan.cells.names:
        pi = ipf(pi, np.full(k, 1.0 / k), plan.cells.shape)
    return GlomParams(pi, np.zeros((k, plan.p)), np.eye(plan.p))


def fit_glom(problem: GlomProblem, start: GlomParams, *, tol: float, max_iter: int, accelerate: bool = True) -> GlomFit:
    """EM (SQUAREM unless ``accelerate`` is False) from ``start``; the estimate evaluated with its fills.

    Raises
    ------
    Infeasible
        ``start`` is not valid.
    """
    run = run_em(problem, problem.pack(start), tol=tol, max_iter=max_iter, accelerate=accelerate, method="squarem")
    trace = run.trace
    if trace.stop_reason == "infeasible":
        raise Infeasible("infeasible start")
    x, singular = run.x, trace.stop_reason == "singular"
    if not problem.feasible(x):
        x, singular = run.best, True
    params = problem.unpack(x)
    try:
        gp, zfill, post = problem.plan.run(*params, stats=False, fill=True)
    except Infeasible:
        params = problem.unpack(run.best)
        gp, zfill, post = problem.plan.run(*params, stats=False, fill=True)
        singular = True
    if singular and trace.converged:
        trace = dataclasses.replace(trace, converged=False, stop_reason="singular")
    assert zfill is not None and post is not None
    return GlomFit(params=params, loglik=gp.loglik, zfill=zfill, posteriors=post, singular=singular, trace=trace)
