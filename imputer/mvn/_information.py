r"""Standard errors of the EM estimates of :func:`imputer.impute`, built on first use.

Parameters ``theta = (mu, vech Sigma)`` (``vech``: the upper triangle of ``Sigma`` row
by row, ``Sigma_11, Sigma_12, ..., Sigma_22, ...``), ``k = p + p(p+1)/2`` of them.

* ``vcov = I_obs^{-1}``, with ``I_obs`` the *observed* information: the negative Hessian
  of the observed-data log-likelihood ``sum_i log N(x_{i,O_i}; mu_O, Sigma_OO)`` at the
  estimate (of the log-posterior when ``ridge > 0``: the prior's curvature added),
  computed analytically per missingness pattern (:mod:`imputer._gaussian.information`).
  Not the expected information, which is biased under MAR (Kenward & Molenberghs 1998).
* ``I_com``, the complete-data information at the estimate (the curvature of EM's ``Q``
  function there): ``n Sigma^{-1}`` for the means, ``(n_c/2) D_p'(Sigma^{-1} ⊗
  Sigma^{-1}) D_p`` for ``vech Sigma`` (``n_c = n + ridge``), zero across; ``V_com =
  I_com^{-1}`` has diagonal ``Sigma_jj / n`` and ``(Sigma_aa Sigma_bb + Sigma_ab^2) / n_c``.
* ``fraction_missing_info_j = 1 - V_com,jj / V_obs,jj``: the share of parameter ``j``'s
  variance due to the missing cells (0 on complete data; diagonal definition).
* ``worst_fraction_missing_info``: the largest eigenvalue of ``I_com^{-1} I_mis = 1 -
  I_com^{-1} I_obs`` (the largest fraction of missing information over all linear
  combinations), which is the linear rate of convergence of plain EM near the estimate
  (Dempster, Laird & Rubin 1977).

Everything is computed in the engine's standardised units ``z = (x - c) / s`` and mapped
to original units exactly: ``theta`` is an affine, per-parameter scaling of ``theta_z``
(``mu_j = c_j + s_j mu_z,j``, ``Sigma_ab = s_a s_b Sigma_z,ab``), so ``V = J V_z J`` with
the diagonal ``J = diag(s_j, s_a s_b)``; the fractions are unchanged by it.

Size and cost. ``vcov`` has ``k^2`` entries (``p = 200``: 20,300 parameters, 3.3 GB), so
it is refused above :data:`MAX_PARAMETERS` parameters (128 MiB; ``p <= 89``) with an
:class:`~imputer.errors.ImputerValueError` naming the size. The work is about ``G q^2``
(``G`` patterns, ``q = p(p+1)/2``) for the information, ``k^3 / 3`` for its inverse
(LAPACK ``potrf``/``potri``) and, for the worst fraction, ``k^3`` for a dense
eigendecomposition up to :data:`DENSE_EIGEN_MAX` parameters, Lanczos iterations of
``O(k^2)`` above. Measured on one core: 100,000 x 20 with 20,760 patterns, 1.3 s;
2,000 x 89 (4,094 parameters) with 1,928 patterns, 13 s and 0.54 GB peak.
``summary()`` shows standard errors only when that is cheap (:func:`cheap`: at most
:data:`SUMMARY_MAX_PARAMETERS` parameters and ``G q^2 <=`` :data:`SUMMARY_MAX_WORK`,
about 0.2 s), since the command line prints it on every run. If ``I_obs`` is not
positive definite (a fit that stopped heading to a singular covariance, or short of the
maximum), every output is NaN and an :class:`~imputer.errors.ConvergenceWarning` says
why (``summary()`` shows NaN without warning).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from imputer._gaussian.information import (
    complete_information,
    complete_information_product,
    complete_variances,
    n_parameters,
    observed_information,
    vech_indices,
)
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.patterns import Patterns
from imputer._gaussian.prior import RidgePrior, as_prior
from imputer._util import readonly
from imputer.errors import ConvergenceWarning, ImputerValueError
from imputer.mvn._fit import blas_threads
from imputer.mvn._scaling import Scaling

__all__ = [
    "MAX_PARAMETERS",
    "SUMMARY_MAX_PARAMETERS",
    "Information",
    "InformationSource",
    "StandardErrors",
    "cheap",
    "equilibrated_cholesky",
    "finish_information",
    "parameter_labels",
]

#: Most parameters ``p + p(p+1)/2`` for which ``vcov`` is built (a 4096 x 4096 matrix: 128 MiB).
MAX_PARAMETERS = 4096
#: ``summary()`` shows standard errors for at most this many parameters (``p <= 30``) ...
SUMMARY_MAX_PARAMETERS = 500
#: Smallest squared Cholesky pivot of the information scaled to unit diagonal below which
#: it is treated as singular (a parameter combination with ~1e-12 of its own information).
SINGULAR_PIVOT = 1e-12
#: Up to this many parameters the worst fraction comes from a dense eigendecomposition.
DENSE_EIGEN_MAX = 600
#: ... and when the pattern work ``G q^2`` is at most this (about 0.2 s; the command line prints summary() on every run).
SUMMARY_MAX_WORK = 2.5e8


def parameter_labels(columns: tuple[Hashable, ...]) -> pd.Index:
    """``mean[a]`` for each column, then ``cov[a,b]`` for the upper triangle, row-major."""
    names = [str(c) for c in columns]
    a, b = vech_indices(len(names))
    return pd.Index([f"mean[{c}]" for c in names] + [f"cov[{names[i]},{names[j]}]" for i, j in zip(a, b)])


def cheap(p: int, n_patterns: int) -> bool:
    """Whether ``summary()`` computes standard errors (see the module docstring)."""
    q = p * (p + 1) // 2
    return n_parameters(p) <= SUMMARY_MAX_PARAMETERS and n_patterns * q * q <= SUMMARY_MAX_WORK


def check_size(p: int) -> None:
    """Refuse a ``vcov`` over :data:`MAX_PARAMETERS` parameters.

    Raises
    ------
    ImputerValueError
        Too many parameters; the message gives the count and the memory it would take.
    """
    k = n_parameters(p)
    if k > MAX_PARAMETERS:
        gib = k * k * 8 / 2**30
        raise ImputerValueError(
            f"standard errors: {p} modelled columns have {k:,} parameters (means and covariances), whose "
            f"covariance matrix would take {gib:.1f} GiB; they are computed for at most {MAX_PARAMETERS:,} "
            f"parameters (p <= 89): fit fewer columns with columns="
        )


@dataclass(frozen=True, eq=False)
class Information:
    """Standard-error outputs in original units (arrays non-writeable).

    Attributes
    ----------
    vcov : ndarray, shape (k, k)
    fraction : ndarray, shape (k,)
    worst : float
    """

    vcov: np.ndarray
    fraction: np.ndarray
    worst: float
    singular: bool = False

    def warn_if_singular(self, stacklevel: int) -> None:
        """A :class:`~imputer.errors.ConvergenceWarning` when the outputs are NaN (singular information)."""
        if self.singular:
            warnings.warn(
                "standard errors: the observed information is not positive definite at the estimate "
                "(the fit did not reach a maximum, or the covariance is singular), so they are NaN; "
                "check converged, or refit with ridge > 0",
                ConvergenceWarning,
                stacklevel=stacklevel + 1,
            )


def _nan(k: int) -> Information:
    vcov, fraction = np.full((k, k), np.nan), np.full(k, np.nan)
    vcov.flags.writeable = fraction.flags.writeable = False
    return Information(vcov=vcov, fraction=fraction, worst=float("nan"), singular=True)


def equilibrated_cholesky(info: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Cholesky factor of ``W I W``, ``W = diag(I)^(-1/2)``, and ``w``; None when ``I`` is not positive definite.

    Numerically positive definite: finite, a positive diagonal, and every squared pivot of
    the equilibrated factor at least :data:`SINGULAR_PIVOT`. The factor's lower triangle
    holds it (the upper is not cleared). Used by the standard errors and by
    :func:`imputer.disperse` (is an end point a maximum?).
    """
    import scipy.linalg.lapack as lapack

    d = np.diag(info).copy()
    if not (np.all(np.isfinite(info)) and np.all(d > 0.0)):
        return None
    w = 1.0 / np.sqrt(d)
    scaled = np.asfortranarray(info * w[:, None])
    scaled *= w[None, :]
    low, fail = lapack.dpotrf(scaled, lower=1, overwrite_a=1, clean=0)
    if fail != 0 or float(np.min(np.diag(low))) ** 2 < SINGULAR_PIVOT:  # not (numerically) positive definite
        return None
    return low, w


def _inverse(info: np.ndarray) -> np.ndarray | None:
    """Inverse of a symmetric positive-definite matrix (equilibrated Cholesky), None if it is not one."""
    import scipy.linalg.lapack as lapack

    factored = equilibrated_cholesky(info)
    if factored is None:
        return None
    low, w = factored
    inv, fail = lapack.dpotri(low, lower=1, overwrite_c=1)  # the lower triangle of (W I W)^-1
    if fail != 0:
        return None
    del low, factored
    inv *= w[:, None]
    inv *= w[None, :]  # W (W I W)^-1 W = I^-1 (lower triangle)
    _mirror_lower(inv)  # symmetric to the last bit
    return np.ascontiguousarray(inv)


def _mirror_lower(a: np.ndarray, block: int = 256) -> None:
    """Copy the lower triangle of the square ``a`` onto its upper triangle, in place (no ``k^2`` index arrays)."""
    k = a.shape[0]
    for lo in range(0, k, block):
        hi = min(lo + block, k)
        diag = a[lo:hi, lo:hi]
        diag[...] = np.tril(diag) + np.tril(diag, -1).T
        a[lo:hi, hi:] = a[hi:, lo:hi].T


def _worst_fraction(i_obs: np.ndarray, v_obs: np.ndarray, sigma: np.ndarray, n_mean: float, n_cov: float) -> float:
    """``1 - lambda_min(I_com^{-1} I_obs)``.

    Up to :data:`DENSE_EIGEN_MAX` parameters, from all eigenvalues of ``L^{-1} I_obs
    L^{-T}`` (``I_com = L L'``); above, the largest ``mu`` of ``I_com x = mu I_obs x`` by
    Lanczos iteration (``O(k^2)`` per step; ``I_com`` applied in ``O(p^3)`` without
    forming it), and ``1 - 1/mu``.
    """
    import scipy.linalg

    k = i_obs.shape[0]
    if k <= DENSE_EIGEN_MAX:
        low = np.linalg.cholesky(complete_information(sigma, n_mean, n_cov))
        a = scipy.linalg.solve_triangular(low, i_obs, lower=True)
        a = scipy.linalg.solve_triangular(low, a.T, lower=True)
        return float(1.0 - np.linalg.eigvalsh(0.5 * (a + a.T))[0])
    from scipy.sparse.linalg import LinearOperator, eigsh

    lam = np.linalg.inv(sigma)
    lam = 0.5 * (lam + lam.T)
    op = LinearOperator((k, k), matvec=lambda x: complete_information_product(lam, x, n_mean, n_cov), dtype=float)
    start = np.ones(k)
    mu = eigsh(op, k=1, M=i_obs, Minv=v_obs, which="LA", v0=start, tol=1e-10, return_eigenvectors=False)[0]
    return float(1.0 - 1.0 / mu)


class InformationSource:
    """The standard errors of an :class:`~imputer.mvn.result.ImputeResult`, computed when called.

    Holds the patterns (shared with the conditional variances), the estimate in
    standardised units and the scaling; the data are the observed cells of the result's
    own completed table, passed in by the caller (so that a pickled result stores them
    once). Picklable.
    """

    def __init__(
        self, patterns: Patterns, mu: np.ndarray, sigma: np.ndarray, scaling: Scaling, ridge: float | RidgePrior, positions: np.ndarray
    ) -> None:
        self._patterns: Patterns | None = patterns
        self._mu, self._sigma = mu, sigma
        self._scaling, self._prior = scaling, as_prior(ridge)
        self._positions = positions
        self._done: Information | None = None

    def __call__(self, completed: pd.DataFrame) -> Information:
        """The outputs from the completed table (its observed cells are the data); computed once.

        Parameters
        ----------
        completed : DataFrame, shape (n, k)
            The result's completed table; the modelled columns are at ``positions``.

        Raises
        ------
        ImputerValueError
            More than :data:`MAX_PARAMETERS` parameters.
        """
        if self._done is None:
            check_size(int(self._mu.size))
            assert self._patterns is not None
            self._done = self._compute(completed, self._patterns)
            self._patterns = None  # released once used (also kept, until then, by the conditional variances)
        return self._done

    def _compute(self, completed: pd.DataFrame, patterns: Patterns) -> Information:
        p = int(self._mu.size)
        values = tuple(completed.iloc[:, j].to_numpy(dtype=float, na_value=np.nan) for j in self._positions)
        sc, n = self._scaling, patterns.n_rows
        with blas_threads(p):
            try:
                i_obs = observed_information(
                    values, patterns, sc.center, sc.scale, self._mu, self._sigma, prior_weight=self._prior.weight,
                    prior_scale=self._prior.scale, prior_logdet_weight=self._prior.logdet_weight,
                )
            except (Infeasible, np.linalg.LinAlgError):  # the covariance itself is not positive definite
                return _nan(n_parameters(p))
            return finish_information(i_obs, self._sigma, n, self._prior, sc)


def finish_information(i_obs: np.ndarray, sigma: np.ndarray, n: int, prior: RidgePrior, scaling: Scaling) -> Information:
    """The :class:`Information` outputs from the observed information ``i_obs`` (standardised units).

    ``vcov`` its inverse in the data's units, the fractions of missing information against
    the complete-data variances (covariance weight ``n + a``, the M-step's divisor), and the
    worst fraction; NaN throughout when ``i_obs`` is singular. Consumes ``i_obs``.
    """
    v_obs = _inverse(i_obs)
    if v_obs is None:
        return _nan(i_obs.shape[0])
    n_cov = n + prior.logdet_weight  # the M-step's divisor
    v_com = complete_variances(sigma, n, n_cov)
    fraction = 1.0 - v_com / np.diag(v_obs)
    worst = _worst_fraction(i_obs, v_obs, sigma, n, n_cov)
    del i_obs
    jac = scaling.parameter_jacobian()
    v_obs *= np.outer(jac, jac)  # exactly symmetric: the same products in both triangles
    v_obs.flags.writeable = False
    fraction.flags.writeable = False
    return Information(vcov=v_obs, fraction=fraction, worst=worst)


class StandardErrors:
    """The labelled standard-error outputs of a result that provides ``_information``.

    Mixed into :class:`imputer.ImputeResult` and :class:`imputer.dask.DaskImputeResult`,
    whose docstrings describe the attributes; the host supplies ``columns``, ``mean`` and
    a cached ``_information`` (an :class:`Information`). Each output is computed on first
    access, then cached; a singular information warns once and gives NaN.
    """

    columns: tuple[Hashable, ...]
    mean: pd.Series
    _information: Information

    def _checked_information(self) -> Information:
        info = self._information
        info.warn_if_singular(stacklevel=3)
        return info

    @cached_property
    def _parameter_labels(self) -> pd.Index:
        return parameter_labels(self.columns)

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """See the class docstring (computed on first access, then cached)."""
        info = self._checked_information()
        labels = self._parameter_labels
        return pd.DataFrame(info.vcov, index=labels.copy(), columns=labels.copy(), copy=False)

    @cached_property
    def se_mean(self) -> pd.Series:
        """See the class docstring (computed on first access, then cached)."""
        info = self._checked_information()
        p = len(self.columns)
        se = readonly(np.sqrt(np.diag(info.vcov)[:p]))
        return pd.Series(se, index=self.mean.index, name="se_mean", copy=False)

    @cached_property
    def se_cov(self) -> pd.DataFrame:
        """See the class docstring (computed on first access, then cached)."""
        info = self._checked_information()
        p = len(self.columns)
        a, b = np.triu_indices(p)
        out = np.empty((p, p))
        out[a, b] = out[b, a] = np.sqrt(np.diag(info.vcov)[p:])
        out.flags.writeable = False
        labels = self.mean.index
        return pd.DataFrame(out, index=labels, columns=labels.copy(), copy=False)

    @cached_property
    def fraction_missing_info(self) -> pd.Series:
        """See the class docstring (computed on first access, then cached)."""
        info = self._checked_information()
        labels = self._parameter_labels.copy()
        return pd.Series(info.fraction, index=labels, name="fraction_missing_info", copy=False)

    @property
    def worst_fraction_missing_info(self) -> float:
        """See the class docstring (computed on first access, then cached)."""
        return self._checked_information().worst

    def _standard_errors_dict(self) -> dict[str, object]:
        """The ``to_dict`` entries of the outputs above (``vcov`` ... ``worst_fraction_missing_info``)."""
        from imputer._json import json_value, labelled_values, square_frame

        return {
            "vcov": square_frame(self.vcov),
            "se_mean": labelled_values(self.se_mean),
            "se_cov": square_frame(self.se_cov),
            "fraction_missing_info": labelled_values(self.fraction_missing_info),
            "worst_fraction_missing_info": json_value(self.worst_fraction_missing_info),
        }
