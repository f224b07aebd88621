r"""The multivariate normal as an EM problem (:class:`MVNProblem`) and its fit (:func:`fit_mvn`).

Packed parameter: ``x = (mu, vech(Sigma))``, the mean then the lower triangle of the
covariance row by row, shape ``(p + p(p+1)/2,)``, in the engine's standardised units
(:mod:`imputer.mvn._scaling`). The EM map ``F`` is one E-step at ``(mu, Sigma)`` (expected
sufficient statistics and the objective) followed by the M-step (:func:`imputer.mvn._emmap.em_update`);
the objective is the observed-data log-likelihood, minus the ridge penalty when
``ridge > 0`` (a log-posterior).

Feasible: ``Sigma`` numerically positive definite, i.e. the smallest eigenvalue of its
correlation matrix at least :data:`~imputer.mvn._fit.SINGULAR_EIG` (and the E-step's
factorisations succeed). When the likelihood has no maximum (too few rows observe some
columns together, collinear columns), EM drives ``Sigma`` toward singular: an update
from a feasible point falls below that threshold. :meth:`MVNProblem.step` then reports
the update as singular (``(None, L(x))``), the driver stops with ``stop_reason="singular"``
and :func:`fit_mvn` returns the best feasible iterate with ``singular=True``.

Convergence measure (``tol``): the largest change of a parameter between successive EM
iterates in standard-deviation units of the older iterate,

.. math::

    \delta = \max\Big(\max_j \frac{|\mu'_j - \mu_j|}{\sqrt{\sigma_{jj}}},\;
             \max_{j,k} \frac{|\sigma'_{jk} - \sigma_{jk}|}{\sqrt{\sigma_{jj}\sigma_{kk}}}\Big),

identical in original and standardised units. The accelerated driver
(:mod:`imputer._em.anderson`) stops at ``delta <= max(tol (1 - rho_hat), min(tol,
1e-13))``, ``rho_hat`` its estimate of EM's rate (the largest fraction of missing
information), so that ``delta / (1 - rho)``, the distance from the maximiser, is about
``tol`` at most; plain EM stops at ``delta <= tol``.

Free coordinates (:class:`~imputer._em.problem.FreeCoordinates`, where the accelerator
extrapolates): with the columns permuted from the most to the least observed (``P``),
``P Sigma P' = L diag(d) L'`` (``L`` unit lower triangular: the coefficients of each
column's regression on the columns before it; ``d`` the residual variances), and

.. math::

    z = \big(\mu,\; (L_{jk})_{j > k}\ \text{row by row},\; \log d\big).

Every ``z`` gives a positive-definite ``Sigma``, and the EM path of a mostly missing
column's regression, curved in ``Sigma``, is nearly straight in ``z``.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.linalg.blas import dsyrk as syrk
from scipy.linalg.lapack import dlauum as lauum

from imputer._em import EMTrace, TraceFields, run_em
from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.prior import RidgePrior, as_prior
from imputer.errors import ConvergenceWarning
from imputer.mvn._certify import feasible_above, feasible_given
from imputer.mvn._emmap import Evaluation, em_update, evaluate
from imputer.mvn._fit import SINGULAR_EIG, corr_feasible, min_corr_eig, start_values
from imputer.mvn._fillnewton import FillNewton, fill_plan, fill_start
from imputer.mvn._point import PointCache, pack_sigma, unpack_sigma
from imputer.mvn._newton import NewtonStep, RowSums, SumsAt, newton_affordable

__all__ = ["MVNFit", "MVNProblem", "MeanCov", "fit_mvn", "warn_if_unreliable"]

#: Covariances per chunk of :meth:`MVNProblem.distance` (measured at ``p = 2,000``: 9.5 ms
#: a call, against 20 for whole-vector operations).
_DISTANCE_CHUNK = 1 << 15

#: From this many columns :meth:`MVNProblem.from_free` forms ``c c'`` by LAPACK ``lauum``
#: (a triangular product, a third of the flops), below by BLAS ``syrk``: there it costs
#: microseconds either way, and the small fits' paths stay as they were (missvals, 95.6%
#: missing information, stops at the objective's rounding noise, where a rounding-level change of the
#: proposals turned 29 evaluations into 39).
LAUUM_MIN_P = 64

#: An estimate whose correlation matrix has its smallest eigenvalue below this is
#: reported as (nearly) singular, even when EM converged to it.
NEAR_SINGULAR_EIG = 1e3 * SINGULAR_EIG


class MeanCov(NamedTuple):
    """Typed parameters of the multivariate normal: ``mu`` shape (p,), ``sigma`` shape (p, p)."""

    mu: np.ndarray
    sigma: np.ndarray


class MVNProblem:
    """EM for ``N_p(mu, Sigma)`` on standardised incomplete data (an :class:`~imputer._em.EMProblem`).

    Parameters
    ----------
    data : StandardData
        The standardised data (:func:`imputer.mvn._fit.standardise`). The EM map does
        not touch the rows of frequent patterns in its work array; the others are
        overwritten with conditional means at the evaluated point.
    ridge : float or RidgePrior
        Prior strength ``lambda >= 0`` in pseudo-rows (0: maximum likelihood), or the
        prior itself (:mod:`imputer._gaussian.prior`: Amelia's convention).
    """

    #: Anderson's driver may try chord jumps across the plateaus of slow fits
    #: (:mod:`imputer._em.anderson`, "Chord jumps")
    chord_jumps = True

    def __init__(self, data: StandardData, ridge: float | RidgePrior, n_missing: np.ndarray | None = None) -> None:
        self.data = data
        self.ridge = as_prior(ridge)
        p = data.p
        self.p = p
        self._rows, self._cols = np.tril_indices(p)
        # position of sigma_jj in x: p + j(j+1)/2 + j
        self._diag_pos = p + (np.arange(1, p + 1) * np.arange(2, p + 2)) // 2 - 1
        # the last packed vector known feasible (an update this problem returned, or a
        # point feasible() accepted): the driver passes it straight back to step(), whose
        # feasibility check (imputer.mvn._certify) is then skipped
        self._known_feasible: np.ndarray | None = None
        # free coordinates: columns from the most to the least observed (stable); the
        # counts come from the patterns, or from the caller (the Dask engine has no rows here)
        if n_missing is None:
            n_miss = np.zeros(p)
            for g in data.patterns.groups:
                n_miss += np.bincount(g.miss.ravel(), weights=np.repeat(g.counts, g.n_miss).astype(float), minlength=p)
        else:
            n_miss = np.asarray(n_missing, dtype=float)
        self._order = np.argsort(n_miss, kind="stable")
        self._unorder = np.argsort(self._order)
        self._strict = np.tril_indices(p, -1)
        # flat index maps (one take instead of 2-D fancy indexing): the strict lower
        # triangle's flat positions, and the reordered Cholesky product's (a Fortran array)
        # entries in vech
        idx = np.int32 if p * p < 2**31 else np.intp
        self._strict_flat = (self._strict[0] * p + self._strict[1]).astype(idx)
        self._strict_col = self._strict[1].astype(idx)
        a, b = self._unorder[self._rows], self._unorder[self._cols]
        if p < LAUUM_MIN_P:
            # from_free's syrk: entry (a, b) of the reordered Sigma at flat position min p + max
            self._product_flat = (np.minimum(a, b) * p + np.maximum(a, b)).astype(idx)
        else:
            # from_free's lauum works on the factor reversed, R = J c J (J the reversal), which
            # is upper triangular: c's entry (j, k) is R's (p-1-j, p-1-k), flat position p^2 - 1
            # - (j p + k). lauum makes R R' = J c c' J in the lower triangle of a Fortran array
            # (its C transpose's upper one): the reordered Sigma's entry (a, b) is at flat
            # position p^2 - 1 - (max(a, b) p + min(a, b)) of that C array
            self._rev_strict_flat = (p * p - 1 - self._strict_flat).astype(idx)
            self._product_flat = (p * p - 1 - (np.maximum(a, b) * p + np.minimum(a, b))).astype(idx)
        self._newton: NewtonStep | FillNewton | bool | None = None  # None: not built yet; False: none
        # Sigma, the free coordinates' Cholesky factor and the precision of the last point
        # the driver asked about, each computed once (imputer.mvn._point)
        self._point = PointCache(p, self._order)

    @property
    def dim(self) -> int:
        """Length ``p + p(p+1)/2`` of the packed vector."""
        return self.p + self._rows.size

    def pack(self, params: MeanCov | tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """``x = (mu, vech(Sigma))``, shape (dim,)."""
        mu, sigma = params
        return np.concatenate([mu, pack_sigma(np.asarray(sigma))])

    def unpack(self, x: np.ndarray) -> MeanCov:
        """``(mu, Sigma)`` of a packed vector (fresh arrays)."""
        p = self.p
        return MeanCov(x[:p].copy(), unpack_sigma(x[p:], p))

    def feasible(self, x: np.ndarray) -> bool:
        """Whether ``Sigma`` is numerically positive definite (correlation eigenvalue >= SINGULAR_EIG).

        Decided from the precision (kept for :meth:`step` at ``x``) where a bound allows
        (:mod:`imputer.mvn._certify`), else by the exact test.
        """
        if x is self._known_feasible:
            return True
        try:
            prec = self._point.precision(x)  # kept for step(x), its factor for to_free(x)
        except Infeasible:
            return False
        sigma = self._point.sigma(x)
        if not feasible_given(sigma, prec[0]):
            return False
        self._known_feasible = x
        return True

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        """Largest parameter change in standard-deviation units of ``x_old`` (module docstring)."""
        p = self.p
        var = np.abs(x_old[self._diag_pos])
        sd = np.sqrt(np.where(var > 0.0, var, np.inf))
        d_mu = float(np.max(np.abs(x_new[:p] - x_old[:p]) / sd))
        new, old = x_new[p:], x_old[p:]
        # the covariances' changes by chunks that stay in cache (on wide data p(p+1)/2
        # numbers, and a handful of temporaries of that length otherwise): the same
        # quotients and maximum, NaN if any is (numpy's max of the whole vector)
        d_sig = -np.inf
        for i in range(0, new.size, _DISTANCE_CHUNK):
            part = slice(i, i + _DISTANCE_CHUNK)
            scale = sd.take(self._rows[part])
            scale *= sd.take(self._cols[part])
            diff = np.subtract(new[part], old[part])
            np.abs(diff, out=diff)
            diff /= scale
            d_sig = float(np.max(diff, initial=d_sig))
            if np.isnan(d_sig):
                break
        return max(d_mu, d_sig)

    def to_free(self, x: np.ndarray) -> np.ndarray | None:
        """Free coordinates ``z = (mu, L, log d)`` of ``x`` (module docstring); None unless ``Sigma`` is positive definite."""
        try:
            c = self._point.factor(x)  # kept: the precision at x, should it be evaluated, from it
        except Infeasible:
            return None
        p, k = self.p, self._strict_flat.size
        e = np.diag(c).copy()
        z = np.empty(p + k + p)
        z[:p] = x[:p]
        # L_jk = c_jk / e_k for the strict lower triangle alone, gathered first: half the
        # divisions of scaling all of c, and no p x p temporary
        # (mode="clip": the positions are in range, and "raise" would buffer out: a copy more)
        low = c.reshape(-1).take(self._strict_flat, out=z[p : p + k], mode="clip")
        low /= e.take(self._strict_col)
        np.log(e, out=z[p + k :])
        z[p + k :] *= 2.0
        return z

    def from_free(self, z: np.ndarray) -> np.ndarray:
        """The packed ``x = (mu, vech Sigma)`` of free coordinates ``z`` (``Sigma = L diag(d) L'``, reordered).

        The product ``c c'`` (``c = L diag(d)^(1/2)``): from :data:`LAUUM_MIN_P` columns by
        LAPACK ``lauum`` on the reversed factor (``p^3 / 3`` flops, a triangular product;
        BLAS ``syrk`` on the full square does ``p^3``: 109 against 44 ms at ``p = 2,000``,
        15 against 7 ms at ``p = 1,000``, one thread), below by ``syrk``.
        """
        p, k = self.p, self._strict_flat.size
        if p < LAUUM_MIN_P:
            c = np.eye(p)
            np.put(c, self._strict_flat, z[p : p + k])
            with np.errstate(over="ignore", invalid="ignore"):  # a wild extrapolation: not finite, infeasible
                c *= np.exp(0.5 * z[p + k :])
                # the lower triangle of c c' (Fortran order); c' is the Fortran view of c: no copy
                s = syrk(1.0, c.T, trans=1, lower=1)
            # entry (i, j), i >= j, of the Fortran array is element j p + i of its transpose's C order
            return np.concatenate([z[:p], np.asfortranarray(s).T.take(self._product_flat)])
        r = np.eye(p)
        np.put(r, self._rev_strict_flat, z[p : p + k])
        with np.errstate(over="ignore", invalid="ignore"):
            r *= np.exp(0.5 * z[p + k :][::-1])  # column p-1-j of R: sqrt(d_j)
            # R is upper triangular in C order: its Fortran view R' is lower, and lauum on
            # it gives (R')' R' = R R' (lower triangle, Fortran order), in place
            s, _ = lauum(r.T, lower=1, overwrite_c=1)
        return np.concatenate([z[:p], np.asfortranarray(s).T.take(self._product_flat)])

    def newton_sums(self) -> tuple[int, SumsAt] | None:
        """``(n, sums)`` for the Newton step: the rows and the information's pattern sums at a point.

        None where the dense step is not affordable (:func:`~imputer.mvn._newton.newton_affordable`:
        at most 500 parameters, and an information that costs at most a few EM evaluations)
        or the rows are not at hand (a subclass whose E-step runs
        elsewhere overrides this).
        """
        if not isinstance(self.data, StandardData):
            return None
        if not newton_affordable(self.p, self.data.patterns.n_patterns, self.data.n):
            return None
        return self.data.n, RowSums(self.data)

    def _newton_step(self) -> NewtonStep | FillNewton | None:
        """The Newton step this problem offers (built once): dense, on the fills, or none."""
        if self._newton is None:
            src = self.newton_sums()
            if src is not None:
                self._newton = NewtonStep(self.p, src[0], self.ridge, src[1])
            elif isinstance(self.data, StandardData) and (plan := fill_plan(self.data)) is not None:
                self._newton = FillNewton(self.data, plan, self.ridge, self.pack, self.unpack, self._point.precision,
                                          distance=self.distance, start=fill_start(self.data))
            else:
                self._newton = False
        return self._newton or None

    def newton(self, x: np.ndarray, fx: np.ndarray) -> np.ndarray | None:
        """The Newton point of the observed-data objective from ``x`` and its EM update ``fx`` (:mod:`imputer.mvn._newton`).

        Where the dense step is not affordable and the rows are few (the batched E-step's
        layout, more than 500 parameters: :func:`~imputer.mvn._fillnewton.fill_plan`), Newton's step on the fixed point of the missing
        cells' fills instead (:mod:`imputer.mvn._fillnewton`). None where neither is
        offered, or the observed information at ``x`` is not positive definite.
        """
        step = self._newton_step()
        return None if step is None else step(x, fx)

    def newton_fresh(self) -> bool:
        """Whether the point :meth:`newton` last returned is an extrapolation of the fills'
        chain (:attr:`~imputer.mvn._fillnewton.FillNewton.extrapolated`): a new contraction starts there."""
        return isinstance(self._newton, FillNewton) and self._newton.extrapolated

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        """The EM map: ``(F(x), L(x))``; ``L = -inf`` if ``x`` is infeasible, ``F = None`` if its update is singular.

        Parameters
        ----------
        x : ndarray, shape (dim,)

        Returns
        -------
        update : ndarray, shape (dim,), or None
        objective : float
            Log-likelihood (log-posterior when ``ridge > 0``) at ``x``, standardised units.
        """
        mu, sigma = x[: self.p].copy(), self._point.sigma(x)
        known = x is self._known_feasible
        try:
            prec = self._point.precision(x)
        except Infeasible:
            return x, -np.inf
        if not (known or feasible_given(sigma, prec[0])):
            return x, -np.inf
        # The E- and M-step of the EM map: the one place the engine's kernels are called
        # for it (frequent patterns are summed per pattern).
        try:
            upd = em_update(self.data, mu, sigma, self.ridge, prec)
        except Infeasible:
            return x, -np.inf
        if not feasible_above(upd.sigma, upd.floor):
            # an EM update from a valid point is (numerically) singular: the likelihood
            # increases toward a singular covariance
            return None, upd.objective
        self._known_feasible = self.pack((upd.mu, upd.sigma))
        self._point.put(self._known_feasible, upd.sigma)
        return self._known_feasible, upd.objective

    def evaluate(self, params: MeanCov) -> Evaluation | None:
        """Full E-step at ``params`` (None if infeasible): objective, log-likelihood, ``cond_diag``.

        Unlike :meth:`step` it completes every incomplete row of ``data.work`` with its
        conditional mean at ``params``, which :func:`~imputer.mvn._fit.fill_missing` can
        then reuse.
        """
        try:
            # the precision as step() computes it, so that the objective is the trace's
            prec = self._point.precision_of(params.sigma)
            if not feasible_given(params.sigma, prec[0]):
                return None
            return evaluate(self.data, params.mu, params.sigma, self.ridge, prec)
        except Infeasible:
            return None


@dataclass(frozen=True, eq=False)
class MVNFit(TraceFields):
    """What the EM fit of the multivariate normal produced (standardised units).

    Attributes
    ----------
    mu : ndarray, shape (p,)
    sigma : ndarray, shape (p, p)
    loglik : float
        Observed-data log-likelihood at the estimate.
    objective : float
        ``loglik`` minus the ridge penalty (equal when ``ridge = 0``).
    singular : bool
        The covariance is (nearly) singular: EM's update left the positive-definite cone,
        or the estimate's correlation matrix has an eigenvalue below ``NEAR_SINGULAR_EIG``.
        Then ``trace.stop_reason == "singular"`` (and conversely).
    min_eig : float
        Smallest eigenvalue of the estimate's correlation matrix (a property, computed when
        first read: the fit itself decides ``singular`` by one Cholesky factorisation,
        :func:`~imputer.mvn._fit.corr_feasible`, a tenth of the eigenvalues' cost).
    cond_diag : tuple of ndarray, one (G, m) per pattern group
        Diagonals of the conditional covariances at the estimate (from its E-step).
    trace : EMTrace
        How the run went; ``history`` holds objectives in standardised units.
    n_iter, n_evals, converged, history
        Read-only properties: the trace's (:class:`~imputer._em.TraceFields`).
    """

    mu: np.ndarray = field(repr=False)
    sigma: np.ndarray = field(repr=False)
    loglik: float
    objective: float
    singular: bool
    cond_diag: tuple[np.ndarray, ...] = field(repr=False)
    trace: EMTrace

    @functools.cached_property
    def min_eig(self) -> float:
        """Smallest eigenvalue of the estimate's correlation matrix (computed once, when first read)."""
        return min_corr_eig(self.sigma)


def fit_mvn(
    data: StandardData,
    *,
    tol: float,
    max_iter: int,
    ridge: float | RidgePrior,
    accelerate: bool,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> MVNFit:
    """EM (Anderson-accelerated in free coordinates unless ``accelerate`` is False) from ``start``.

    On return ``data.work`` holds the conditional means at the returned estimate (its
    final E-step is evaluated there), for :func:`~imputer.mvn._fit.fill_missing` with
    ``refresh=False``.

    Parameters
    ----------
    data : StandardData
    tol, max_iter, ridge, accelerate
        As in :func:`imputer.impute`.
    start : (ndarray, ndarray), shapes (p,) and (p, p), optional
        Starting mean and positive-definite covariance in standardised units; default
        :func:`~imputer.mvn._fit.start_values`.

    Returns
    -------
    MVNFit
    """
    problem = MVNProblem(data, ridge)
    x0 = problem.pack(start_values(data) if start is None else start)
    run = run_em(problem, x0, tol=tol, max_iter=max_iter, accelerate=accelerate)
    trace = run.trace
    params = problem.unpack(run.x)
    stats = problem.evaluate(params)
    fell_back = stats is None
    if fell_back:
        # the returned iterate (an unevaluated EM update) is not a valid normal after all:
        # fall back to the best feasible iterate seen; the likelihood heads to singular
        params = problem.unpack(run.best)
        stats = problem.evaluate(params)
        if stats is None:  # not reached: the best iterate passed the EM map's E-step
            raise Infeasible("no feasible iterate")
    singular = fell_back or trace.stop_reason == "singular" or not corr_feasible(params.sigma, NEAR_SINGULAR_EIG)
    if singular and trace.stop_reason != "singular":
        trace = dataclasses.replace(trace, converged=False, stop_reason="singular")
    return MVNFit(
        mu=params.mu,
        sigma=params.sigma,
        loglik=stats.loglik,
        objective=stats.objective,
        singular=singular,
        cond_diag=stats.cond_diag,
        trace=trace,
    )


def warn_if_unreliable(
    fit: MVNFit, tol: float, max_iter: int, *, stacklevel: int, n_rows: int | None = None, ridge: float | None = None
) -> None:
    """Warn (:class:`~imputer.errors.ConvergenceWarning`) when ``fit`` is no reliable maximum.

    One wording for :func:`imputer.impute` and :class:`imputer.EMImputer`: a (nearly)
    singular covariance (the likelihood has no maximum), else no convergence within
    ``max_iter``. ``stacklevel`` counts from the caller of this function (2: its caller's caller).
    Given the rows ``n_rows`` and the prior's ``ridge``, a table with at least as many
    columns as rows also gets the advice that a stronger prior converges far sooner, and
    that such a posterior can have several maxima (:func:`imputer.disperse`) (on
    ``n = 100, p = 300``: ``ridge=1`` 665 evaluations, 14,301 with Anderson alone,
    ``ridge=10`` in 35; on ``n = 50, p = 1,000`` ``ridge=1`` in 117, ``ridge=10`` in 32;
    ``benchmarks/wide_readme_table.py``, ``benchmarks/wide_rounds.md``).
    """
    if fit.singular:
        warnings.warn(
            f"the covariance estimate is (nearly) singular (smallest eigenvalue of the correlation matrix "
            f"{fit.min_eig:.2g}): the likelihood has no maximum for these data (too few rows observe some "
            "columns together, or columns are collinear); the estimates are not reliable. Pass ridge > 0 "
            "(e.g. 0.5-1% of the rows) for a regularised estimate",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
    elif fit.trace.stop_reason == "max_iter":
        p = fit.mu.size
        wide = ""
        if n_rows is not None and ridge is not None and 0.0 < ridge < n_rows <= p:
            wide = (
                f"; with {p} columns and {n_rows} rows EM's rate nears 1 under a weak prior (ridge={ridge:g}): "
                f"a stronger one (e.g. ridge={max(10.0 * ridge, n_rows // 10):g}) converges in far fewer iterations, "
                "and the estimate can depend on where EM starts (imputer.disperse runs it from several starts)"
            )
        warnings.warn(
            f"EM did not converge within max_iter={max_iter} iterations (tol={tol:g}); "
            f"increase max_iter or tol{wide}",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
