r"""The EM rate of convergence, the worst linear function, and the chain lengths they set.

EM's map ``theta -> M(theta)`` near its fixed point ``theta_hat`` is linear with Jacobian
``J = I_mis I_com^{-1}`` (Dempster, Laird & Rubin 1977), whose largest eigenvalue ``r`` is
the worst fraction of missing information; plain EM's error shrinks like ``r^t`` along
the eigenvector ``v`` (the direction of slowest convergence). Data augmentation
converges at the same rate, and ``v' theta`` -- the *worst linear function* (WLF) of the
parameters -- is the function whose draws are the most autocorrelated: norm2's
convergence diagnostic (Schafer 1997, sec. 4.4.3) is its autocorrelation function over
the chain, about ``r^k`` at lag ``k``.

:func:`em_rate` estimates ``r`` and ``v`` from products of ``J`` with vectors, by finite
differences of the EM map at the estimate (standardised units, packed
``theta = (mu, vech Sigma)`` as :class:`~imputer.mvn._problem.MVNProblem` packs it):

.. math::

    J q \approx \big(M(\hat\theta + h q) - M(\hat\theta)\big) / h, \qquad h = 10^{-5}

(truncation error ``O(h)``, rounding error ``O(1e-16 / h)``). Plain EM near the estimate is
the power iteration ``d_{k+1} = J d_k`` on its changes, whose ratio
``||d_{k+1}|| / ||d_k||`` tends to ``r`` -- but slowly when the second eigenvalue is close
to the first. The same products feed Arnoldi's method instead: an orthonormal basis of
the Krylov space ``span(q, Jq, J^2 q, ...)`` from a fixed start ``q`` and the top
eigenvalue (and vector) of the small projected matrix, until the estimate changes by
less than 0.1% (at most 30 products; about 10 for the benchmark table). ``J`` is similar
to the symmetric ``I_com^{-1/2} I_mis I_com^{-1/2}``, so its eigenvalues are real. The ridge prior's EM map is used when ``ridge > 0`` (the rate of the
posterior-mode iteration, which data augmentation under the ridge posterior shares).

:func:`chain_lengths` turns ``r`` into the default spacing and burn-in:

* ``thin``: the smallest ``k >= 1`` with ``r^k <= 0.05`` (successive imputations'
  WLF autocorrelation at most 0.05: the imputations are nearly independent);
* ``burn_in``: the smallest ``b >= thin`` with ``r^b <= 1e-4``: twice the plain-EM
  iterations that shrink an error 100-fold, norm2's "about twice the EM iterations"
  measured from the MLE, where the chain starts.

Both are capped (``MAX_THIN``, ``MAX_BURN_IN``); a rate so close to 1 that the cap binds
(or an estimate so nearly singular that the EM map fails next to it: rate 1)
means the posterior is nearly flat in some direction (e.g. a column almost never
observed with another), and the caller warns and suggests ``ridge > 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.prior import RidgePrior
from imputer.mvn._emmap import em_update
from imputer.mvn._problem import MVNProblem

__all__ = ["EMRate", "MAX_BURN_IN", "MAX_THIN", "chain_lengths", "em_rate"]

#: Autocorrelation of the WLF at the spacing between imputations.
THIN_ACF = 0.05
#: Remaining fraction of the start's distance from stationarity after the burn-in.
BURN_IN_FRACTION = 1e-4
#: Caps on the defaults.
MAX_THIN = 1000
MAX_BURN_IN = 5000

_STEP = 1e-5
_RTOL = 1e-3
_MAX_KRYLOV = 30


@dataclass(frozen=True)
class EMRate:
    """The estimated rate of EM at the estimate.

    Attributes
    ----------
    rate : float
        ``r`` in ``[0, 1]``: the worst fraction of missing information.
    direction : ndarray, shape (p + p(p+1)/2,)
        Unit vector ``v`` of slowest convergence, packed ``(mu, vech Sigma)``
        (standardised units); its sign makes its largest-magnitude entry positive.
    n_evals : int
        EM-map evaluations used.
    """

    rate: float
    direction: np.ndarray
    n_evals: int


def em_rate(data: StandardData, mu: np.ndarray, sigma: np.ndarray, ridge: float | RidgePrior) -> EMRate:
    """Power iteration on the EM map's Jacobian at ``(mu, sigma)`` (module docstring).

    Parameters
    ----------
    data : StandardData
        Standardised data (its work array's missing cells are overwritten).
    mu, sigma : ndarray, shapes (p,), (p, p)
        The EM estimate (standardised units).
    ridge : float

    Returns
    -------
    EMRate
    """
    problem = MVNProblem(data, ridge)
    x_hat = problem.pack((mu, sigma))
    dim = x_hat.size
    if not data.patterns.groups:  # no missing cell: EM converges in one step
        v = np.zeros(dim)
        v[0] = 1.0
        return EMRate(rate=0.0, direction=v, n_evals=0)

    def emap(x: np.ndarray) -> np.ndarray:
        m, s = problem.unpack(x)
        upd = em_update(data, m, s, ridge)
        return problem.pack((upd.mu, upd.sigma))

    try:
        f_hat = emap(x_hat)
    except Infeasible:  # the estimate is (numerically) singular: no usable rate
        return EMRate(rate=1.0, direction=np.eye(dim)[0], n_evals=1)
    # Arnoldi on J with a fixed, generic start (no eigenvector of J is orthogonal to it)
    q0 = np.random.default_rng(20260101).standard_normal(dim)
    basis = [q0 / np.linalg.norm(q0)]
    hess = np.zeros((_MAX_KRYLOV + 1, _MAX_KRYLOV))
    rate, v, n_evals = 0.0, basis[0], 1
    for j in range(min(_MAX_KRYLOV, dim)):
        try:
            w = (emap(x_hat + _STEP * basis[j]) - f_hat) / _STEP
        except Infeasible:  # a neighbour of a (nearly) singular estimate is not a valid normal
            return EMRate(rate=1.0, direction=v, n_evals=n_evals + 1)
        n_evals += 1
        for _ in range(2):  # Gram-Schmidt, twice (numerically orthogonal basis)
            for i, q in enumerate(basis):
                c = float(q @ w)
                hess[i, j] += c
                w = w - c * q
        norm = float(np.linalg.norm(w))
        hess[j + 1, j] = norm
        vals, vecs = np.linalg.eig(hess[: j + 1, : j + 1])
        top = int(np.argmax(vals.real))
        new_rate = float(vals[top].real)
        v = np.column_stack(basis) @ vecs[:, top].real
        done = j > 0 and abs(new_rate - rate) <= _RTOL * max(new_rate, 1e-3)
        rate = new_rate
        if done or norm <= 1e-10 * max(rate, 1e-3):  # converged, or an invariant subspace found
            break
        basis.append(w / norm)
    v = v / np.linalg.norm(v)
    v = v * np.sign(v[np.argmax(np.abs(v))])
    return EMRate(rate=min(max(rate, 0.0), 1.0), direction=v, n_evals=n_evals)

def _steps(rate: float, target: float) -> float:
    """Smallest ``k >= 0`` with ``rate^k <= target`` (inf when ``rate >= 1``)."""
    if rate <= 0.0:
        return 0.0
    if rate >= 1.0:
        return math.inf
    return math.ceil(math.log(target) / math.log(rate) - 1e-9)


def chain_lengths(rate: float) -> tuple[int, int, bool]:
    """Default ``(burn_in, thin, capped)`` for a worst fraction of missing information ``rate``.

    ``capped`` is True when a cap (``MAX_THIN``, ``MAX_BURN_IN``) bound.
    """
    thin = max(1.0, _steps(rate, THIN_ACF))
    burn = max(thin, _steps(rate, BURN_IN_FRACTION))
    capped = thin > MAX_THIN or burn > MAX_BURN_IN
    return int(min(burn, MAX_BURN_IN)), int(min(thin, MAX_THIN)), capped


def default_lengths(rate: float, burn_in: int | None, thin: int | None, advice: str, stacklevel: int) -> tuple[int, int]:
    """``(burn_in, thin)``: the given ones, the others from :func:`chain_lengths`; warns when a default was capped.

    ``advice`` ends the warning (what to pass instead); ``stacklevel`` is the caller's caller's.
    """
    import warnings

    from imputer.errors import ConvergenceWarning

    auto_burn, auto_thin, capped = chain_lengths(rate)
    if capped and (burn_in is None or thin is None):
        warnings.warn(
            f"EM converges extremely slowly (worst fraction of missing information {rate:.4f}): the default "
            f"burn-in and spacing of the chain were capped and the imputations may be autocorrelated; {advice}",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
    return (auto_burn if burn_in is None else burn_in), (auto_thin if thin is None else thin)
