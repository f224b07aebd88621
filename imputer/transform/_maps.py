r"""The transformations and bounds of single columns, and the moments they carry back.

A column ``x`` modelled on the scale ``y = g(x)`` is normal there given the row's observed
cells: ``y | x_obs ~ N(m, v)`` (the model's conditional mean and variance). Its fill on
the original scale is the conditional expectation ``E[g^{-1}(Y)]`` (not ``g^{-1}(m)``),
and its conditional variance ``Var[g^{-1}(Y)]``; with bounds ``[a, b]`` on ``x`` both are
taken under ``Y`` truncated to ``[g(a), g(b)]``. With ``s = sqrt(v)``,
``alpha = (g(a) - m)/s``, ``beta = (g(b) - m)/s`` and ``Z = Phi(beta) - Phi(alpha)``:

* identity: ``E = m + s (phi(alpha) - phi(beta)) / Z`` and
  ``Var = v [1 + (alpha phi(alpha) - beta phi(beta))/Z - ((phi(alpha) - phi(beta))/Z)^2]``
  (the truncated normal; no bounds: ``m`` and ``v``);
* ``log`` (``x = e^y``): ``E[e^{kY}; a<Y<b] = e^{km + k^2 v/2} (Phi(beta - ks) - Phi(alpha - ks))``,
  so ``E = e^{m + v/2} (Phi(beta - s) - Phi(alpha - s))/Z`` (no bounds: ``e^{m + v/2}``) and
  ``Var = E[e^{2Y}]/Z - E^2``;
* ``sqrt`` (``x = y^2``, ``y = sqrt(x) >= 0``): ``E = m^2 + v``, ``Var = 2 v^2 + 4 m^2 v``;
* ``logit`` on ``(lo, hi)`` (``x = lo + (hi - lo) expit(y)``): no closed form. By symmetry
  (``expit(y) = 1 - expit(-y)``) the moments are computed at ``-|m|``, where the mean is
  the smaller of ``E`` and ``1 - E`` (``Var`` is the same at ``m`` and ``-m``). Where
  ``s <= 1.5``, or ``expit``'s step lies far in the tail (``(|m| - s^2) / s > 12``: the
  integrand ``phi(t) expit(m + s t)`` is then smooth), by Gauss-Hermite quadrature with
  :data:`HERMITE_NODES` nodes. Elsewhere the nodes would not resolve the step (64 nodes
  erred by 4e-5 at ``s = 5`` and 1.5e-3 at 10), so the step is taken out exactly:
  ``expit(y) = H(y) + r(y)`` with ``H`` the unit step, ``E[H(Y)] = Phi(m / s)``, and
  ``r(y) = -sign(y) e^{-|y|} / (1 + e^{-|y|})``; with ``w = |y|``,

  ``E[expit(Y)] = Phi(m/s) + int_0^inf e^{-w} q(w) [phi((-w-m)/s) - phi((w-m)/s)] / s dw``,

  ``q = expit(w)``, by Gauss-Laguerre quadrature (:data:`LAGUERRE_NODES` nodes, weight
  ``e^{-w}``), whose remaining factor is smooth on the scale ``s`` (and ``E[expit^2]`` the
  same way, ``expit^2 - H = e^{-w} q^2 e^{-w}`` for ``y = -w < 0`` and
  ``-e^{-w} q (1 + q)`` for ``y = w > 0``). Measured against adaptive quadrature
  (``tests/imputer/transform/test_maps.py``, ``m`` in [-60, 60], ``s`` in [0.05, 100]):
  the mean within 1e-12 relative to ``min(E, 1 - E)``, the variance within 1e-11 relative.

The ratios to ``Z`` are computed in logs (``log Z`` without cancellation in either tail),
so a conditional mean many sd beyond a bound still gives the truncated moments, not
``0 / 0``.

Bounds are allowed on untransformed and log columns (a logit column has its range in the
transform, a sqrt column its lower bound 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np

__all__ = ["HERMITE_NODES", "LAGUERRE_NODES", "ColumnMap", "back_moments", "forward", "inverse", "model_bounds"]

Kind = Literal["identity", "log", "sqrt", "logit"]

#: Gauss-Hermite nodes for the logit's moments (small conditional sd, or the step far out)
HERMITE_NODES = 64
#: Gauss-Laguerre nodes for the logit's moments with the step taken out
LAGUERRE_NODES = 128
#: The logit's moments take the step out where ``s > SPLIT_SD`` and ``(|m| - s^2) / s <= SPLIT_TAIL``.
SPLIT_SD = 1.5
SPLIT_TAIL = 12.0


@dataclass(frozen=True)
class ColumnMap:
    """How one modelled column is transformed and bounded.

    Attributes
    ----------
    kind : {"identity", "log", "sqrt", "logit"}
    lo, hi : float
        The logit's range (``x`` in the open interval); NaN otherwise.
    lower, upper : float
        Bounds on ``x`` (``-inf``/``inf`` when absent).
    """

    kind: Kind = "identity"
    lo: float = np.nan
    hi: float = np.nan
    lower: float = -np.inf
    upper: float = np.inf

    @property
    def bounded(self) -> bool:
        return bool(np.isfinite(self.lower) or np.isfinite(self.upper))

    def label(self, name: str) -> str:
        """The model-scale label of column ``name``: ``log(x)``, ``sqrt(x)``, ``logit(x; 0, 100)``, or ``x``."""
        if self.kind == "identity":
            return name
        if self.kind == "logit":
            return f"logit({name}; {self.lo:g}, {self.hi:g})"
        return f"{self.kind}({name})"


def forward(cmap: ColumnMap, x: np.ndarray) -> np.ndarray:
    """``g(x)`` elementwise (NaN stays NaN); the caller has checked the domain."""
    if cmap.kind == "log":
        return np.log(x)
    if cmap.kind == "sqrt":
        return np.sqrt(x)
    if cmap.kind == "logit":
        u = (x - cmap.lo) / (cmap.hi - cmap.lo)
        return np.log(u) - np.log1p(-u)
    return np.array(x, dtype=float, copy=True)


def inverse(cmap: ColumnMap, y: np.ndarray) -> np.ndarray:
    """``g^{-1}(y)`` elementwise: a draw on the model scale mapped back to the column's own."""
    if cmap.kind == "log":
        return np.exp(y)
    if cmap.kind == "sqrt":
        return np.square(y)
    if cmap.kind == "logit":
        from scipy.special import expit

        return cmap.lo + (cmap.hi - cmap.lo) * expit(y)
    return np.array(y, dtype=float, copy=True)


def model_bounds(cmap: ColumnMap) -> tuple[float, float]:
    """The bounds on the model scale, ``(g(lower), g(upper))`` (``-inf``/``inf`` when absent).

    A sqrt column is modelled as ``x = Y^2`` with ``Y`` normal on the whole line (as the fills
    ``E = m^2 + v`` take it), a logit column maps the whole line into its range: neither
    needs a box.
    """
    return _model_scale(cmap, cmap.lower), _model_scale(cmap, cmap.upper)


def _model_scale(cmap: ColumnMap, bound: float) -> float:
    """A bound on ``x`` on the model scale (identity or log; ``log`` of a bound <= 0 is ``-inf``)."""
    if cmap.kind != "log":
        return bound
    return float(np.log(bound)) if bound > 0 else -np.inf


def _ndtr(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(z)


def _log_interval(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(Phi(b) - Phi(a))`` for ``a < b``, without the cancellation of ``Phi(b) - Phi(a)``
    in either tail (both bounds above 0: ``1 - Phi`` from the right; both below: from the left)."""
    from scipy.special import log_ndtr, ndtr

    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    out = np.empty(a.shape)
    upper, lower = a > 0, b < 0
    mid = ~(upper | lower)
    with np.errstate(divide="ignore", invalid="ignore"):
        la, lb = log_ndtr(-a[upper]), log_ndtr(-b[upper])
        out[upper] = la + np.log1p(-np.exp(lb - la))
        la, lb = log_ndtr(a[lower]), log_ndtr(b[lower])
        out[lower] = lb + np.log1p(-np.exp(la - lb))
        out[mid] = np.log(ndtr(b[mid]) - ndtr(a[mid]))
    return out


def _log_phi(z: np.ndarray) -> np.ndarray:
    """``log phi(z)`` (``-inf`` at ``z = +-inf``)."""
    return -0.5 * np.square(z) - 0.5 * np.log(2 * np.pi)


def _phi(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return np.where(np.isfinite(z), np.exp(-0.5 * np.square(np.where(np.isfinite(z), z, 0.0))), 0.0) / np.sqrt(2 * np.pi)


def back_moments(cmap: ColumnMap, m: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(E[g^{-1}(Y)], Var[g^{-1}(Y)])`` for ``Y ~ N(m, v)`` truncated to the bounds.

    Parameters
    ----------
    cmap : ColumnMap
    m, v : ndarray, shape (k,)
        Conditional means and variances on the model scale (``v > 0``).

    Returns
    -------
    (mean, var) : ndarrays, shape (k,)
    """
    m = np.asarray(m, dtype=float)
    v = np.asarray(v, dtype=float)
    s = np.sqrt(v)
    if cmap.kind == "sqrt":
        return m * m + v, 2 * v * v + 4 * m * m * v
    if cmap.kind == "logit":
        return _logit_moments(cmap, m, s)
    if not cmap.bounded:
        if cmap.kind == "log":
            mean = np.exp(m + v / 2)
            return mean, np.expm1(v) * mean * mean
        return m.copy(), v.copy()
    ga, gb = _model_scale(cmap, cmap.lower), _model_scale(cmap, cmap.upper)
    alpha = (ga - m) / s
    beta = (gb - m) / s
    # every ratio to Z in logs: Z = Phi(beta) - Phi(alpha) underflows or cancels to 0 once
    # the bounds lie several sd into a tail (the mean 8 sd below a lower bound)
    log_z = _log_interval(alpha, beta)
    if cmap.kind == "log":
        with np.errstate(over="ignore"):
            first = np.exp(m + v / 2 + _log_interval(alpha - s, beta - s) - log_z)
            second = np.exp(2 * m + 2 * v + _log_interval(alpha - 2 * s, beta - 2 * s) - log_z)
        return np.clip(first, cmap.lower, cmap.upper), np.maximum(second - first * first, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        pa, pb = np.exp(_log_phi(alpha) - log_z), np.exp(_log_phi(beta) - log_z)  # phi(.) / Z
    ratio = pa - pb
    fa = np.where(np.isfinite(alpha), np.where(np.isfinite(alpha), alpha, 0.0) * pa, 0.0)
    fb = np.where(np.isfinite(beta), np.where(np.isfinite(beta), beta, 0.0) * pb, 0.0)
    mean = m + s * ratio
    var = v * (1 + (fa - fb) - ratio * ratio)
    return np.clip(mean, cmap.lower, cmap.upper), np.maximum(var, 0.0)


def _logit_moments(cmap: ColumnMap, m: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The logit's back-transformed moments (module docstring): at ``-|m|``, by Gauss-Hermite
    or with ``expit``'s step taken out, then reflected for ``m > 0``."""
    a = -np.abs(m)
    first, var = np.empty(m.shape), np.empty(m.shape)
    split = (s > SPLIT_SD) & (-a - s * s <= SPLIT_TAIL * s)
    first[~split], var[~split] = _expit_moments_hermite(a[~split], s[~split])
    first[split], var[split] = _expit_moments_split(a[split], s[split])
    first = np.where(m > 0, 1.0 - first, first)
    width = cmap.hi - cmap.lo
    return cmap.lo + width * first, width * width * var


@cache
def _hermite_rule() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and weights for the standard normal density (made once: 0.6 ms)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(HERMITE_NODES)  # weight exp(-z^2/2)
    return nodes, weights / np.sqrt(2 * np.pi)


@cache
def _laguerre_rule() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Laguerre nodes and weights, weight ``e^{-w}`` on ``(0, inf)`` (made once: 2.6 ms)."""
    return np.polynomial.laguerre.laggauss(LAGUERRE_NODES)


def _expit_moments_hermite(m: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(E[expit(Y)], Var[expit(Y)])``, ``Y ~ N(m, s^2)``, by Gauss-Hermite quadrature."""
    from scipy.special import expit

    nodes, weights = _hermite_rule()
    u = expit(m[:, None] + s[:, None] * nodes[None, :])
    first = u @ weights
    second = (u * u) @ weights
    return first, np.maximum(second - first * first, 0.0)


def _expit_moments_split(m: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same moments with ``expit``'s unit step taken out exactly (module docstring),
    the rest by Gauss-Laguerre quadrature."""
    from scipy.special import expit

    w, weights = _laguerre_rule()
    q = expit(w)
    ew = np.exp(-w)
    sc = s[:, None]
    below = _phi((-w[None, :] - m[:, None]) / sc) / sc  # the density at y = -w
    above = _phi((w[None, :] - m[:, None]) / sc) / sc  # at y = w
    step = _ndtr(m / s)
    first = step + (below - above) @ (weights * q)
    second = step + below @ (weights * ew * q * q) - above @ (weights * q * (1.0 + q))
    return first, np.maximum(second - first * first, 0.0)
