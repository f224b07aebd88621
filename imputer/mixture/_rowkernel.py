r"""One pass over the rows for all components of a Gaussian mixture, in update form (private; clean input assumed).

The pass for data with few rows per missingness pattern (:func:`~imputer.mixture._kernel.MixturePlan`
chooses); :class:`~imputer.mixture._kernel.PatternPlan` batches by pattern otherwise.

Rows are taken with 0 in their missing cells (``v``; standardised units, so 0 is the
column mean). For component ``k`` with precision ``Lambda_k = Sigma_k^{-1}``, let
``y_k = Lambda_k (v - mu_k)`` and ``C_{kM} = (Lambda_{k,MM})^{-1}``
(:func:`~imputer._gaussian.linalg.chunk_conditional`, once per chunk of patterns). In
update form (:mod:`imputer._gaussian.chunks`) the conditional mean of the missing cells
and the Mahalanobis distance of the observed part are

.. math::

    \hat z_{k,M} = -C_{kM}\, y_{k,M}, \qquad
    d_k^2 = v^\top\Lambda_k v - 2\,(\Lambda_k\mu_k)^\top v + \mu_k^\top\Lambda_k\mu_k
        - y_{k,M}^\top C_{kM}\, y_{k,M}

(the quadratic form minimised over ``z_M``), and

.. math::

    \log N(z_O; \mu_{k,O}, \Sigma_{k,OO}) = -\tfrac12\big[(p - m)\log 2\pi + \log|\Sigma_k|
        - \log|C_{kM}| + d_k^2\big].

A row's responsibilities depend on that row only, ``r_k = pi_k N_k / sum_l pi_l N_l``
(log-sum-exp), so one pass over blocks of rows gives, for every component at once: the
log-densities, the responsibilities, each row's ``log sum_k pi_k N_k`` and the weighted
E-step statistics of every component (``w = v = r_{.k}`` in
:mod:`imputer._gaussian.stats`): ``N_k = sum_i r_ik``, ``s_1 = sum_i r_ik zhat_ik`` and
the expected second moments ``sum_i r_ik (zhat_ik zhat_ik' + C_{kM_i})``. The products
``Lambda_k v`` of every component come from one matrix product, and ``N_k``, ``s_1`` and
the weighted scatter of component ``k`` are blocks of one Gram matrix ``Q_k Q_k'``, with
``Q_k`` the rows ``sqrt(r_ik) (zhat_ik', 1)'`` side by side.

Rows are processed component-major and batch-last (``(K, p, r)`` blocks of a
transposed copy of the data made once): long inner loops, cache-sized blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imputer._gaussian.layout import StandardData, block_bounds
from imputer._gaussian.linalg import chunk_conditional
from imputer._util import LOG_2PI
from imputer.mixture._pass import ComponentPass, MixturePass, precisions

__all__ = ["RowPlan"]

# rows per sub-block: 2**18 / max(_ROW_ELEMENTS, 2 K p) (4096 rows for K p <= 32, at
# least 256), so that the (K, p, r) temporaries stay about 2**19 numbers
_ROW_ELEMENTS = 64


@dataclass(frozen=True, eq=False)
class _Part:
    """A block of ``r`` rows of one pattern chunk (``chunk == -1``: complete rows), precomputed.

    ``rows`` (r,) their original positions; ``xt`` (p, r) the rows transposed, 0 in the
    missing cells; ``flat`` (K, m, r) the positions of the missing cells in a C-ordered
    ``(K, p, r)`` block, ``flat_q`` in a ``(K, p + 1, r)`` one and ``flat_mu`` in a
    ``(K, p)`` array; ``flat_pat`` (K, r) each row's pattern in a ``(K, g)`` array; ``loc`` (r,) its pattern in the
    chunk; ``seg`` the starts of its runs of equal ``loc`` (rows are sorted by pattern)
    and ``seg_pat`` their patterns.
    """

    rows: np.ndarray
    xt: np.ndarray
    chunk: int = -1
    loc: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    flat: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    flat_q: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    flat_mu: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    flat_pat: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    seg: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    seg_pat: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))


class RowPlan(MixturePass):
    """The rows of a layout, transposed and cut for :meth:`run` (built once per EM run; parameters
    as :class:`~imputer.mixture._pass.MixturePass`).
    """

    def __init__(self, data: StandardData, k: int) -> None:
        super().__init__(data, k)
        p = data.p
        width = max(_ROW_ELEMENTS, 2 * k * p)
        inc = data.patterns.incomplete_rows
        comp, comp_rows = data.complete_rows(), data.patterns.complete_rows
        parts = [
            _Part(comp_rows[a:b], np.ascontiguousarray(comp[a:b].T)) for a, b in block_bounds(comp.shape[0], width)
        ]
        self.miss: list[tuple[np.ndarray, np.ndarray]] = []
        ks = np.arange(k)[:, None, None]
        for spec in data.chunks:
            miss = data.patterns.groups[spec.group].miss[spec.pat_start : spec.pat_stop]
            g, m = miss.shape
            mt = miss.T
            cells = (mt[:, None, :] * p + mt[None, :, :])[:, :, None, :] + (np.arange(k) * p * p)[:, None]
            # the K components' patterns as patterns of the block-diagonal (Kp x Kp) precision
            self.miss.append(((miss[None] + ks * p).reshape(k * g, m), cells.reshape(-1)))
            for blk in data.blocks[spec.block_start : spec.block_stop]:
                for a, b in block_bounds(blk.stop - blk.start, width):
                    r = b - a
                    cols = np.ascontiguousarray(blk.cols[a:b].T, dtype=np.intp)  # (m, r)
                    loc = np.asarray(blk.loc[a:b], dtype=np.intp)
                    xt = np.ascontiguousarray(data.work[blk.start + a : blk.start + b].T)
                    xt[cols, np.arange(r)] = 0.0
                    seg = np.flatnonzero(np.r_[True, loc[1:] != loc[:-1]])
                    parts.append(
                        _Part(
                            rows=inc[blk.start + a : blk.start + b],
                            xt=xt,
                            chunk=len(self.miss) - 1,
                            loc=loc,
                            flat=(ks * p + cols) * r + np.arange(r),
                            flat_q=(ks * (p + 1) + cols) * r + np.arange(r),
                            flat_mu=ks * p + cols,
                            flat_pat=ks[:, :, 0] * g + loc,
                            seg=seg,
                            seg_pat=loc[seg],
                        )
                    )
        self.parts = tuple(parts)
        self.order = np.concatenate([pt.rows for pt in parts]).astype(np.intp) if parts else np.zeros(0, np.intp)

    def run(
        self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray, *, stats: bool = True, rows: bool = False
    ) -> ComponentPass:
        """:meth:`MixturePass.run <imputer.mixture._pass.MixturePass.run>`."""
        k, p, n = self.k, self.p, self.n
        precs, logdets = precisions(covs)
        prec_rows = precs.reshape(k * p, p)  # rows of Lambda_1, ..., Lambda_K (symmetric)
        block_diag = np.zeros((k * p, k * p))
        for j in range(k):
            block_diag[j * p : (j + 1) * p, j * p : (j + 1) * p] = precs[j]
        lam_mu = np.einsum("kpq,kq->kp", precs, means)
        lam_mu_flat = lam_mu.reshape(-1)
        with np.errstate(divide="ignore"):
            log_weights = np.log(weights)
        # log pi_k - (p log 2 pi + log|Sigma_k| + mu_k' Lambda_k mu_k) / 2
        base = log_weights - 0.5 * (p * LOG_2PI + logdets + np.einsum("kp,kp->k", lam_mu, means))
        chunks = []
        for miss_all, _ in self.miss:
            m = miss_all.shape[1]
            cond_t, logdet, _ = chunk_conditional(block_diag, miss_all)  # (m, m, K g), (K g,)
            chunks.append((cond_t.reshape(m * m, -1), logdet + m * LOG_2PI, np.zeros(logdet.size)))
        loglik = 0.0
        joint_all = np.empty((k, n)) if rows else None
        resp_all = np.empty((k, n)) if rows else None
        s1 = np.zeros((k, p))
        s2 = np.zeros((k, p, p))
        nk = np.zeros(k)
        at = 0
        for part in self.parts:
            wt = part.xt
            r = wt.shape[1]
            y = (prec_rows @ wt).reshape(k, p, r)  # Lambda_k v
            # d^2 - mu' Lambda mu: v' Lambda v - 2 (Lambda mu)' v
            d2 = np.einsum("jr,kjr->kr", wt, y)
            d2 -= 2.0 * (lam_mu @ wt)
            if part.chunk >= 0:
                cond, corr, rsum = chunks[part.chunk]
                m = part.flat.shape[1]
                y_m = np.take(y.reshape(-1), part.flat)  # (K, m, r)
                y_m -= np.take(lam_mu_flat, part.flat_mu)
                c_rows = np.take(cond, part.flat_pat, axis=1).reshape(m, m, k, r)
                step = np.einsum("jlkr,klr->kjr", c_rows, y_m)  # -zhat_M
                d2 -= np.einsum("kjr,kjr->kr", y_m, step)
                d2 -= np.take(corr, part.flat_pat)
            joint = base[:, None] - 0.5 * d2
            top = joint.max(axis=0)
            # below -700 a responsibility is < 1e-304 of the largest: 0 to any sum here, and
            # exp's slow (denormal) path avoided
            e = np.exp(np.maximum(joint - top, -700.0))
            tot = e.sum(axis=0)
            loglik += float(np.log(tot).sum() + top.sum())
            resp = e / tot
            if rows:
                joint_all[:, at : at + r] = joint
                resp_all[:, at : at + r] = resp
                at += r
            if not stats:
                continue
            sr = np.sqrt(resp)
            # q = (sqrt(r) zhat; sqrt(r)), (K, p + 1, r): its Gram matrix holds S2, s1 and N
            q = np.empty((k, p + 1, r))
            np.multiply(wt, sr[:, None, :], out=q[:, :p])
            q[:, p] = sr
            if part.chunk >= 0:
                np.put(q, part.flat_q, -step * sr[:, None, :])
                np.add.at(rsum.reshape(k, -1), (slice(None), part.seg_pat), np.add.reduceat(resp, part.seg, axis=1))
            gram = np.matmul(q, q.transpose(0, 2, 1))
            s2 += gram[:, :p, :p]
            s1 += gram[:, :p, p]
            nk += gram[:, p, p]
        if stats:
            for (cond, _, rsum), (_, cells) in zip(chunks, self.miss):
                s2 += np.bincount(cells, weights=(cond * rsum).reshape(-1), minlength=k * p * p).reshape(k, p, p)
        out_resp = out_dens = None
        if rows:
            out_resp = np.empty((n, k))
            out_resp[self.order] = resp_all.T
            out_dens = np.empty((n, k))
            out_dens[self.order] = (joint_all - log_weights[:, None]).T
        if not stats:
            return ComponentPass(loglik, precs, logdets, out_resp, out_dens, None, None, None)
        return ComponentPass(loglik, precs, logdets, out_resp, out_dens, nk, s1, s2)
