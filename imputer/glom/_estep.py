r"""One pass over the rows of the general location model (private; clean input assumed).

Model (standardised continuous units ``z``): a row's cell ``c`` has probability ``pi_c``;
given the cell, ``z ~ N_p(mu_c, Sigma)`` with one covariance for every cell. Row ``i``
observes the continuous set ``O`` (missing ``M``) and is compatible with the cells
``C_i`` (:mod:`imputer.glom._cells`). With the categorical part missing, the row's
density is a mixture over ``C_i`` with a common covariance:

.. math::

    f_i = \sum_{c \in \mathcal C_i} \pi_c\, N(z_{i,O}; \mu_{c,O}, \Sigma_{OO}), \qquad
    r_{ic} = \pi_c N_{ic} / f_i .

Because ``Sigma`` is common, the conditional factors depend on the pattern ``O`` only:
``B = Sigma_MO Sigma_OO^{-1}``, ``C_M = Sigma_MM - B Sigma_OM`` and ``log|Sigma_OO|`` are
computed once per pattern, and ``d_ic^2 = |L^{-1} z_O|^2 - 2 (L^{-1} z_O)'(L^{-1} mu_{c,O})
+ |L^{-1} mu_{c,O}|^2`` (``Sigma_OO = L L'``) is one matrix product for all cells. The
conditional mean under cell ``c`` is ``zhat_ic = u_i + a_c``, with ``u_i = (z_O, B z_O)``
common to the cells and ``a_c = (0, mu_{c,M} - B mu_{c,O})``, so the E-step statistics

.. math::

    N_c = \sum_i r_{ic}, \quad s_c = \sum_i r_{ic} \hat z_{ic}, \quad
    T = \sum_i \sum_c r_{ic} \hat z_{ic} \hat z_{ic}^\top + \sum_i C_{M_i}

are sums of ``(C, p)`` and ``(p, p)`` products per block of rows (``G = r' U``:
``s = G + N a``, ``T = U'U + G'A + A'G + A' diag(N) A + sum C_M``); a row with every
level observed has ``r_ic = 1`` at its one cell, so its blocks take ``O(r p)`` work (sums by
cell) instead of ``O(r C p)``. (The mixture kernel,
:mod:`imputer.mixture._kernel`, handles ``K`` separate covariances with one set of
weights for every row; here the covariance is common and each row has its own set of
compatible cells, which this pass exploits instead.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from imputer._gaussian.linalg import Infeasible
from imputer._util import LOG_2PI
from imputer.glom._cells import CellGrid

__all__ = ["GlomPass", "GlomPlan", "cell_weights"]

# rows per block: about this many (row, cell) pairs at a time
_BLOCK_PAIRS = 1 << 18


def cell_weights(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``exp(joint - top)`` (0 off the compatible cells) and ``top``, the rows' largest ``joint``, from (r, C).

    Raises
    ------
    Infeasible
        A row with zero density (no compatible cell of positive weight).
    """
    top = joint.max(axis=1)
    if not np.all(np.isfinite(top)):
        raise Infeasible("a row has zero density")
    e = np.exp(np.maximum(joint - top[:, None], -745.0))
    e[~np.isfinite(joint)] = 0.0
    return e, top


@dataclass(frozen=True, eq=False)
class GlomPass:
    """What one pass gives: ``loglik``; ``nk`` (C,), ``s1`` (C, p), ``t`` (p, p) when asked for."""

    loglik: float
    nk: np.ndarray | None
    s1: np.ndarray | None
    t: np.ndarray | None


@dataclass(frozen=True, eq=False)
class _Block:
    rows: np.ndarray  # (r,) original positions
    obs: np.ndarray  # (q,) observed continuous columns
    mis: np.ndarray  # (m,)
    zo: np.ndarray  # (r, q) observed values
    codes: np.ndarray  # (r, J)
    cell: np.ndarray | None  # (r,) the cell of each row when every categorical cell is observed


class GlomPlan:
    """Rows grouped by continuous missingness pattern and cut into blocks (built once per fit).

    Parameters
    ----------
    z : ndarray, shape (n, p)
        Standardised continuous values, NaN where missing (not kept).
    codes : ndarray of intp, shape (n, J)
        Level codes, -1 where missing.
    cells : CellGrid
    """

    def __init__(self, z: np.ndarray, codes: np.ndarray, cells: CellGrid) -> None:
        self.n, self.p = z.shape
        self.cells = cells
        mask = np.isnan(z)
        cat_full = (codes >= 0).all(axis=1)
        if self.p:
            pats, inverse = np.unique(mask, axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
        else:  # no continuous column: one (empty) pattern
            pats, inverse = np.zeros((1, 0), dtype=bool), np.zeros(self.n, dtype=np.intp)
        rows_per = max(16, _BLOCK_PAIRS // max(cells.n_cells, 1))
        blocks = []
        for g in range(pats.shape[0]):
            miss = pats[g]
            obs, mis = np.flatnonzero(~miss), np.flatnonzero(miss)
            for full in (True, False):
                rows = np.flatnonzero((inverse == g) & (cat_full == full))
                for a in range(0, rows.size, rows_per):
                    rr = rows[a : a + rows_per]
                    cd = codes[rr]
                    blocks.append(
                        _Block(rr, obs, mis, np.ascontiguousarray(z[np.ix_(rr, obs)]), cd, cells.cell_of(cd) if full else None)
                    )
        self.blocks = tuple(blocks)

    def _factors(self, sigma: np.ndarray, obs: np.ndarray, mis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """``(L, B, C_M, log|Sigma_OO|)`` of a pattern (raises Infeasible)."""
        s_oo = sigma[np.ix_(obs, obs)]
        try:
            chol = np.linalg.cholesky(s_oo) if obs.size else np.zeros((0, 0))
        except np.linalg.LinAlgError:
            raise Infeasible("Sigma_OO not positive definite") from None
        logdet = 2.0 * float(np.log(np.diag(chol)).sum())
        s_om = sigma[np.ix_(obs, mis)]
        if obs.size:
            w = solve_triangular(chol, s_om, lower=True)  # L^{-1} Sigma_OM
            b = solve_triangular(chol, w, lower=True, trans="T").T  # Sigma_MO Sigma_OO^{-1}, (m, q)
            cond = sigma[np.ix_(mis, mis)] - w.T @ w
        else:
            b = np.zeros((mis.size, 0))
            cond = sigma[np.ix_(mis, mis)].copy()
        return chol, b, cond, logdet

    def _known(self, blk: _Block, log_pi: np.ndarray, means: np.ndarray, chol: np.ndarray, logdet: float) -> np.ndarray:
        """``log pi_c + log N(z_O; mu_{c,O}, Sigma_OO)`` at each row's one cell (every level observed), (r,)."""
        assert blk.cell is not None
        q = blk.obs.size
        if q:
            e = solve_triangular(chol, (blk.zo - means[blk.cell][:, blk.obs]).T, lower=True)
            d2 = np.einsum("qr,qr->r", e, e)
        else:
            d2 = np.zeros(blk.rows.size)
        return log_pi[blk.cell] - 0.5 * (q * LOG_2PI + logdet + d2)

    def _joint(self, blk: _Block, log_pi: np.ndarray, means: np.ndarray, chol: np.ndarray, logdet: float) -> np.ndarray:
        """``log pi_c + log N(z_O; mu_{c,O}, Sigma_OO)`` for the block's rows, ``-inf`` off ``C_i``, (r, C)."""
        q = blk.obs.size
        r = blk.rows.size
        if q:
            ex = solve_triangular(chol, blk.zo.T, lower=True)  # (q, r)
            em = solve_triangular(chol, means[:, blk.obs].T, lower=True)  # (q, C)
            d2 = np.einsum("qr,qr->r", ex, ex)[:, None] - 2.0 * (ex.T @ em) + np.einsum("qc,qc->c", em, em)[None, :]
        else:
            d2 = np.zeros((r, self.cells.n_cells))
        joint = log_pi[None, :] - 0.5 * (q * LOG_2PI + logdet + d2)
        joint[~self.cells.compatible(blk.codes)] = -np.inf
        return joint

    def run(
        self, pi: np.ndarray, means: np.ndarray, sigma: np.ndarray, *, stats: bool = True, fill: bool = False
    ) -> tuple[GlomPass, np.ndarray | None, list[tuple[np.ndarray, np.ndarray]] | None]:
        """Log-likelihood, the E-step statistics and, with ``fill``, the conditional means and responsibilities.

        Parameters
        ----------
        pi : ndarray, shape (C,)
        means : ndarray, shape (C, p)
        sigma : ndarray, shape (p, p)

        Returns
        -------
        GlomPass
        zfill : ndarray, shape (n, p), or None
            ``sum_c r_ic zhat_ic`` (observed cells: the observed values) when ``fill``.
        posteriors : list of J (rows, probs), or None
            When ``fill``: for categorical column ``j``, the rows missing it (shape (r_j,),
            increasing) and their posterior level probabilities ``sum_{c: level_j(c) = l}
            r_ic``, shape (r_j, L_j).

        Raises
        ------
        Infeasible
            ``Sigma`` (a block of it) not positive definite, or a row with zero density.
        """
        n, p, k = self.n, self.p, self.cells.n_cells
        with np.errstate(divide="ignore"):
            log_pi = np.log(pi)
        nk, s1, t = np.zeros(k), np.zeros((k, p)), np.zeros((p, p))
        zfill = np.empty((n, p)) if fill else None
        n_cat = len(self.cells.names)
        post: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n_cat)]
        loglik = 0.0
        cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray, float]] = {}
        for blk in self.blocks:
            key = tuple(blk.mis.tolist())
            if key not in cache:
                cache[key] = self._factors(sigma, blk.obs, blk.mis)
            chol, b, cond, logdet = cache[key]
            r = blk.rows.size
            if blk.cell is not None:  # one cell per row: responsibilities 1 there
                logf = self._known(blk, log_pi, means, chol, logdet)
                if not np.all(np.isfinite(logf)):
                    raise Infeasible("a row has zero density")
                loglik += float(logf.sum())
                resp = None
            else:
                e, top = cell_weights(self._joint(blk, log_pi, means, chol, logdet))
                tot = e.sum(axis=1)
                loglik += float(np.log(tot).sum() + top.sum())
                resp = e / tot[:, None]
            if not (stats or fill):
                continue
            u = np.empty((r, p))
            u[:, blk.obs] = blk.zo
            u[:, blk.mis] = blk.zo @ b.T
            a = np.zeros((k, p))
            a[:, blk.mis] = means[:, blk.mis] - means[:, blk.obs] @ b.T
            if resp is None:
                assert blk.cell is not None
                n_blk = np.bincount(blk.cell, minlength=k).astype(float)
                g = np.zeros((k, p))
                for j in range(p):
                    g[:, j] = np.bincount(blk.cell, weights=u[:, j], minlength=k)
            else:
                g = resp.T @ u  # (C, p)
                n_blk = resp.sum(axis=0)
            if stats:
                nk += n_blk
                s1 += g + n_blk[:, None] * a
                t += u.T @ u + g.T @ a + a.T @ g + (a.T * n_blk) @ a
                if blk.mis.size:
                    t[np.ix_(blk.mis, blk.mis)] += r * cond
            if fill:
                assert zfill is not None
                zfill[blk.rows] = u + (a[blk.cell] if resp is None else resp @ a)
                if resp is not None:
                    for j in range(n_cat):
                        sel = blk.codes[:, j] < 0
                        if sel.any():
                            post[j].append((blk.rows[sel], self.cells.level_sums(resp[sel], j)))
        posteriors = None
        if fill:
            posteriors = []
            for j in range(n_cat):
                rows = np.concatenate([r for r, _ in post[j]]) if post[j] else np.zeros(0, np.intp)
                probs = (
                    np.concatenate([v for _, v in post[j]]) if post[j] else np.zeros((0, len(self.cells.levels[j])))
                )
                order = np.argsort(rows, kind="stable")
                posteriors.append((rows[order], probs[order]))
        if not stats:
            return GlomPass(loglik, None, None, None), zfill, posteriors
        return GlomPass(loglik, nk, s1, t), zfill, posteriors
