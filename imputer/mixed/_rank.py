r"""Singular covariance terms: the reduced-rank boundary probe (:func:`probe_rank`).

A term with ``d`` effects and unstructured ``G`` can have its REML/ML optimum on the
boundary of the positive semi-definite cone: ``rank(G) < d`` (a correlation of +-1, or a
zero variance in a direction). EM approaches such a point only sublinearly. When the
term's correlation matrix comes within ``1e-2`` of singular or one of its effects'
*scaled* variances (``G~ = D^(1/2) G D^(1/2)``, ``D`` the effects' average
``tr(Z_a'Z_a)/n``, so that effects in different units compare) carries under 0.1% of
the total (:func:`singularity`; :func:`imputer.mixed._emreml.fit_components`), the
fit probes the rank-``d - 1`` model

.. math::

    G = A H A',\qquad A = D^{-1/2} \tilde A,

with ``A~`` (``d x (d-1)``, orthonormal) spanning the complement of a unit *null
direction* ``n~`` in the scaled coordinates and ``H`` unstructured. For a fixed ``n~``
the reduced model is an ordinary mixed model whose term ``j`` has the ``d - 1`` effects
``Z_j (I (x) A)``; it is fitted by the same EM (:class:`ReducedEngine`). The direction
is chosen to maximise this profile likelihood: ``n~ = normalise(n~_0 + B t)`` with
``n~_0`` the current smallest eigenvector and ``B`` its orthonormal complement,
maximised over ``t`` (Brent's bounded search for ``d = 2``, Nelder-Mead otherwise).
A term with *diagonal* ``G`` (lme4's ``||``) has its zero-variance candidates on the
axes: the probe drops effect ``a`` (``A`` selects the others; no search).

The probe is accepted when the reduced fit converged, its likelihood is at least the
current one, and the derivative of the likelihood at ``G`` in the direction
``m m'`` (``m = D^{-1/2} n~``, the variance the reduced model leaves out) is ``<= 0``
(the Karush-Kuhn-Tucker condition in the one direction the cone allows). The reduced
engine carries that direction as an extra, never active, scalar term whose
``score_at_zero`` is this derivative. Reduced fits probe further (rank ``d - 2``,
or the whole term to zero) in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from imputer.mixed._gram import Gram, GramSums
from imputer.mixed._problem import Estimates, Layout

__all__ = ["EngineInputs", "ReducedEngine", "null_direction", "scaled_covariance"]


@dataclass(frozen=True, eq=False)
class EngineInputs:
    """What an engine was built from, kept to build reduced engines: the observed rows
    (``X`` (n, p), centred ``y`` (n,), ``Zs``), or, for a fit that only has the summed cross
    products (a Dask DataFrame, identity kernels), ``sums`` (:class:`GramSums`) instead."""

    X: np.ndarray | None
    y: np.ndarray | None
    Zs: list | None
    Ls: list  # level factors (q, r) or None, per term (not yet expanded by the effects)
    ml: bool
    #: the Gram's cross products instead of the rows (a Dask fit: identity kernels); X, y, Zs None
    sums: GramSums | None = None


def scales(gram: Gram, i: int) -> np.ndarray:
    """``D``: each effect's average ``tr(Z*_a' Z*_a) / n`` of term ``i``, shape (d,)."""
    return np.maximum(np.diag(gram.ZZbsum[i]) / gram.n, np.finfo(float).tiny)


def scaled_covariance(G: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``D^(1/2) G D^(1/2)``."""
    s = np.sqrt(D)
    return G * s[:, None] * s[None, :]


def null_direction(G: np.ndarray, D: np.ndarray, structure: str) -> tuple[np.ndarray, float]:
    """The probe's starting null direction ``n~_0`` (scaled coordinates) and its eigenvalue.

    Unstructured: the smallest eigenvector of ``G~``; diagonal: the axis of the smallest
    scaled variance.
    """
    Gs = scaled_covariance(G, D)
    if structure == "diag":
        a = int(np.argmin(np.diag(Gs)))
        e = np.zeros(G.shape[0])
        e[a] = 1.0
        return e, float(Gs[a, a])
    w, V = np.linalg.eigh(0.5 * (Gs + Gs.T))
    return V[:, 0], float(w[0])


def singularity(G: np.ndarray, D: np.ndarray, total: float) -> float:
    """How close term ``G`` is to singular: ``min(lambda_min(R), 10 min_a G~_aa / total)``.

    ``R`` is the correlation matrix (1 minus the largest absolute correlation for
    ``d = 2``), ``G~`` the scaled covariance and ``total`` the summed scaled variances of
    every term and the residual. A probe is made when this falls below ``1e-2``: a
    correlation beyond +-0.99, or an effect carrying under 0.1% of the variance.
    """
    Gs = scaled_covariance(G, D)
    dg = np.diag(Gs)
    if np.any(dg <= 0):
        return 0.0
    R = Gs / np.sqrt(np.outer(dg, dg))
    lam = float(np.linalg.eigvalsh(0.5 * (R + R.T))[0])
    return min(lam, 10.0 * float(np.min(dg)) / total)


def complement(n: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d, d - 1) of the complement of the unit vector ``n``."""
    d = n.size
    Q, _ = np.linalg.qr(np.column_stack([n, np.eye(d)]))
    return Q[:, 1:d]


class ReducedEngine:
    """An MME engine for the model with term ``j``'s covariance restricted to ``A H A'``.

    Term ``j`` becomes ``Z_j (I (x) A)`` with ``d - 1`` effects (structure kept); term ``k``
    (appended, never active) is ``Z_j (I (x) m)``, the left-out direction, for the score.

    Parameters
    ----------
    parent : MMEEngine
        The engine of the full model (its ``inputs`` must be set).
    j : int
    A : ndarray, shape (d, d - 1)
    m : ndarray, shape (d,)
    """

    def __init__(self, parent, j: int, A: np.ndarray, m: np.ndarray):
        from imputer.mixed._emreml import MMEEngine

        inp: EngineInputs = parent.inputs
        lay: Layout = parent.layout
        q = parent.g.nl[j] if inp.Ls[j] is None else inp.Ls[j].shape[0]
        T = sp.kron(sp.identity(q), sp.csr_matrix(A))
        t = sp.kron(sp.identity(q), sp.csr_matrix(m[:, None]))
        Ls = list(inp.Ls) + [inp.Ls[j]]
        r = A.shape[1]
        dims = list(lay.dims)
        dims[j] = r
        dims.append(1)
        structures = list(lay.structures) + ["us"]
        if r == 1:
            structures[j] = "us"
        full = [L if (L is None or d == 1) else np.kron(L, np.eye(d)) for L, d in zip(Ls, dims)]
        if inp.sums is not None:  # only the cross products are known (identity kernels)
            sums = inp.sums.reduced(j, T, t)
            gram = Gram.from_sums(sums, full, dims)
            inner_inputs = EngineInputs(X=None, y=None, Zs=None, Ls=Ls, ml=inp.ml, sums=sums)
        else:
            Zj = inp.Zs[j]
            Zs = list(inp.Zs)
            Zs[j] = sp.csr_matrix(Zj @ T)
            Zs.append(sp.csr_matrix(Zj @ t))
            gram = Gram(inp.X, inp.y, Zs, full, dims)
            inner_inputs = EngineInputs(X=inp.X, y=inp.y, Zs=Zs, Ls=Ls, ml=inp.ml)
        self.inner = MMEEngine(gram, inp.ml, Layout(tuple(dims), tuple(structures)), inputs=inner_inputs)
        self.parent_layout = lay
        self.j, self.A = j, A
        self.extra = len(dims) - 1

    def reduce_theta(self, theta: np.ndarray) -> np.ndarray:
        """A start for the reduced model from a full ``theta``: ``H = A^+ G A^+'`` (made positive definite)."""
        lay, red = self.parent_layout, self.inner.layout
        out = np.zeros(red.size + 1)
        for i in range(lay.k):
            G = lay.matrix(theta, i)
            if i == self.j:
                Ap = np.linalg.pinv(self.A)
                H = Ap @ G @ Ap.T
                H = 0.5 * (H + H.T)
                w, V = np.linalg.eigh(H)
                H = (V * np.maximum(w, 1e-3 * max(float(w[-1]), 1e-300))) @ V.T
                if red.structures[i] == "diag":
                    H = np.diag(np.diag(H))
                out[red.slot(i)] = red.vector(H, i)
            else:
                out[red.slot(i)] = theta[lay.slot(i)]
        out[-1] = theta[-1]
        return out

    def expand_theta(self, theta_r: np.ndarray) -> np.ndarray:
        """The full model's ``theta`` of a reduced one (``G_j = A H A'``)."""
        lay, red = self.parent_layout, self.inner.layout
        out = np.zeros(lay.size + 1)
        for i in range(lay.k):
            if i == self.j:
                G = self.A @ red.matrix(theta_r, i) @ self.A.T
                out[lay.slot(i)] = lay.vector(G, i)
            else:
                out[lay.slot(i)] = theta_r[red.slot(i)]
        out[-1] = theta_r[-1]
        return out

    def expand_estimates(self, est: Estimates) -> Estimates:
        """Estimates of the full model: ``u_j = W A'``, ``PEV_l = A PEV_w,l A'``; the extra term dropped."""
        u = list(est.u[: self.extra])
        pev = list(est.pev[: self.extra])
        A = self.A
        u[self.j] = u[self.j] @ A.T
        pev[self.j] = np.einsum("ar,lrs,bs->lab", A, pev[self.j], A)
        return Estimates(b=est.b, var_b=est.var_b, u=tuple(u), pev=tuple(pev))
