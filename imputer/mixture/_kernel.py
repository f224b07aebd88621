r"""One pass over the rows for all components of a Gaussian mixture, batched by pattern (private; clean input assumed).

:func:`MixturePlan` builds this pass (:class:`PatternPlan`) when the patterns hold at
least ``(p + 1)^2`` rows on average, else the update-form row pass
(:class:`~imputer.mixture._rowkernel.RowPlan`); both give the same
:class:`~imputer.mixture._pass.ComponentPass` to rounding.

Rows are grouped by missingness pattern (complete rows form one more pattern), each
kept as its observed cells only, augmented by a 1: ``x~_i = (x_{i,O}', 1)'``. Per
evaluation, per group of patterns with the same ``p_o`` and per component ``k``
(:mod:`imputer.mixture._patterns`, compact ``p_o``- and ``m``-wide arrays): one
Cholesky factor of ``Sigma_{k,OO}`` gives ``W_{gk}`` with ``d_ik = ||W_{gk} x~_i||^2`` the Mahalanobis
distance of the observed part, and

.. math::

    \log N(x_{i,O}; \mu_{k,O}, \Sigma_{k,OO}) = -\tfrac12\big[p_o\log 2\pi
        + \log|\Sigma_{k,OO}| + d_{ik}\big].

Row level, batched by pattern with no loop over rows: the rows of a pattern are cut
into *items* of ``c`` rows, ``c`` in :data:`_ITEM_ROWS` (a pattern's rows are
``q_1 1024 + q_2 128 + q_3 16`` with the last item of 16 padded by zero columns, which
contribute nothing); the items of one group (same ``p_o``) and one size are stored as
one ``(items, p_o + 1, c)`` array, so that for a run of items one batched matrix product
``W X~`` gives every row's ``W_{gk} x~_i`` for all components. Then ``d``, the
responsibilities ``r_ik = pi_k N_ik / sum_l pi_l N_il`` (log-sum-exp over components,
which also gives the log-likelihood: each pattern's log-densities are shifted by the
largest of its constants ``log pi_k - (p_o log 2 pi + log|Sigma_{k,OO}|) / 2``, so that
they are ``<= 0`` with no per-row maximum; a row below ``-600`` for every component is
redone with its own maximum), and the weighted moments of each item,
``X~ diag(r_k) X~'`` (one more batched product), summed per pattern into
``S~_{gk} = sum_i r_ik x~_i x~_i'``. Since ``sum_k r_ik = 1`` the moments of one
component (the one with the largest weight, so that nothing cancels badly) are the
pattern's constant unweighted moments minus the others'. The completed-data
statistics follow per pattern in closed form (:func:`~imputer.mixture._patterns.completed_moments`).

Per evaluation the row-level work is two products of ``K p_o (p_o + 1)`` and
``(K - 1)(p_o + 1)^2`` multiply-adds per row and a few passes over ``n K`` numbers;
temporaries are bounded by :data:`_BATCH_ELEMENTS` numbers and the pattern-level arrays
by :data:`_PATTERN_ELEMENTS`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from imputer._gaussian.layout import StandardData, build_layout
from imputer.errors import ImputerWarning
from imputer.mixture._pass import ComponentPass, MixturePass, pattern_sources
from imputer.mixture._patterns import PieceIndex, completed_moments, piece_factors
from imputer.mixture._rowkernel import RowPlan

__all__ = ["ComponentPass", "MixturePlan", "PatternPlan"]

#: Item sizes (rows), largest first; a pattern's rows are cut greedily into them.
_ITEM_ROWS = (1024, 128, 16)
#: Patterns x ``K (p + 1)^2`` numbers of a chunk (bounds its pieces' pattern-level arrays): 16 MB.
_PATTERN_ELEMENTS = 1 << 21
#: Numbers in a batch's largest temporary (``items x K p_o x c``): about 1 MB, so that a batch's
#: few temporaries stay in a core's L2 cache (2 MB here) between the steps that pass over them.
#: Measured at 100,000 x 10, K = 3 (process CPU time per pass, passes of different sizes
#: interleaved): 12.2 ms at 1 MB against 13.9 ms at 4 MB and 12.8 ms at 256 KB (more calls).
_BATCH_ELEMENTS = 1 << 17


@dataclass(frozen=True, eq=False)
class _Batch:
    """A run of items of one piece and one size ``c``.

    ``x`` (b, p_o + 1, c) the rows' observed cells and a 1, transposed, zero in padding
    columns; ``rows`` (b, c) their original positions (``n`` for padding); ``pat`` (b,)
    each item's pattern in the piece, non-decreasing; ``seg`` the starts of its runs and
    ``seg_pat`` their patterns; ``seg_sum`` the sparse ``(runs, b)`` 0/1 matrix that sums
    each run's items (five times faster than ``numpy.add.reduceat`` over many small
    items); ``valid`` (b, c) 1.0 for rows, 0.0 for padding (None without padding).
    """

    x: np.ndarray
    rows: np.ndarray
    pat: np.ndarray
    seg: np.ndarray
    seg_pat: np.ndarray
    seg_sum: sparse.csr_array
    valid: np.ndarray | None


@dataclass(frozen=True, eq=False)
class _Piece:
    """Patterns ``first:first + G`` of a chunk, of one group (all with ``p_o`` observed cells), and their batches.

    ``index`` the patterns' constant positions (:class:`~imputer.mixture._patterns.PieceIndex`);
    ``total`` (G, p_o + 1, p_o + 1) the unweighted moments ``sum_i x~_i x~_i'`` of each
    pattern (constant; its last entry the pattern's rows).
    """

    p_o: int
    first: int
    index: PieceIndex
    batches: list[_Batch]
    total: np.ndarray


@dataclass(frozen=True, eq=False)
class _Chunk:
    """Consecutive patterns (at most :data:`_PATTERN_ELEMENTS` numbers of pattern-level arrays), as pieces."""

    pieces: list[_Piece]


def _items(counts: np.ndarray) -> dict[int, list[tuple[int, int, int]]]:
    """``(pattern, first row, rows)`` of each item, by item size (module docstring)."""
    out: dict[int, list[tuple[int, int, int]]] = {c: [] for c in _ITEM_ROWS}
    start = 0
    for g, count in enumerate(counts.tolist()):
        at, left = start, count
        for c in _ITEM_ROWS:
            q = left // c if c != _ITEM_ROWS[-1] else -(-left // c)
            for _ in range(q):
                out[c].append((g, at, min(c, left)))
                at += c
                left -= c
        start += count
    return out


def _piece(
    xo: np.ndarray, orig: np.ndarray, obs: np.ndarray, miss: np.ndarray, counts: np.ndarray, row0: int, pat0: int, k: int
) -> _Piece:
    """The batches of patterns ``obs`` (G, p_o), whose rows start at ``xo[row0]``, patterns ``pat0:`` of their chunk.

    ``xo`` holds the group's rows as ``(x_O, 1)`` and a zero row last (the padding),
    ``orig`` their original positions and ``n`` last.
    """
    g, p_o = obs.shape
    pad_row = xo.shape[0] - 1
    total = np.zeros((g, p_o + 1, p_o + 1))
    batches = []
    for c, items in _items(counts).items():
        if not items:
            continue
        pat, first, used = (np.array(v, dtype=np.intp) for v in zip(*items))
        col = np.arange(c)
        idx = np.where(col < used[:, None], row0 + first[:, None] + col, pad_row)
        # the batch's products and its items' W (gathered per batch) within the budget
        size = max(1, _BATCH_ELEMENTS // (max(k, 2) * max(p_o, 1) * max(c, p_o + 1)))
        for a in range(0, len(items), size):
            sl = slice(a, a + size)
            x = np.ascontiguousarray(xo[idx[sl]].transpose(0, 2, 1))
            pb = pat[sl]
            seg = np.flatnonzero(np.r_[True, pb[1:] != pb[:-1]])
            pad = idx[sl] == pad_row
            valid = (~pad).astype(float) if pad.any() else None
            # items sorted by pattern: run r holds items seg[r]:seg[r + 1], so the CSR arrays
            # are the runs' bounds (built directly: the COO route costs 0.1 ms a batch)
            nb = pb.size
            seg_sum = sparse.csr_array((np.ones(nb), np.arange(nb), np.append(seg, nb)), shape=(seg.size, nb))
            batches.append(_Batch(x, orig[idx[sl]], pb, seg, pb[seg], seg_sum, valid))
            total[pb[seg]] += np.add.reduceat(x @ x.transpose(0, 2, 1), seg, axis=0)
    return _Piece(p_o, pat0, PieceIndex.of(obs, miss, k), batches, total)


def _fix_far_rows(joint: np.ndarray, e: np.ndarray, tot: np.ndarray) -> np.ndarray:
    """``log`` of each row's sum ``tot`` of ``e = exp(max(joint, -700))``; rows far from every component redone.

    ``joint`` (b, K, c) is each row's log-density shifted by its pattern's largest base,
    so ``<= 0``. A row whose terms all fall below ``exp(-600)`` (a Mahalanobis distance
    of over 1,200 to every component) is redone with its own largest term as the shift
    (``e``, ``tot`` overwritten there), so that clamping at -700 costs nothing above
    ``exp(-100)`` relative.
    """
    lt = np.log(tot)
    if lt.min() < -600.0:
        bi, ci = np.nonzero(lt < -600.0)
        jj = joint[bi, :, ci]
        top = jj.max(axis=1)
        ee = np.exp(np.maximum(jj - top[:, None], -700.0))
        e[bi, :, ci] = ee
        tot[bi, ci] = ee.sum(axis=1)
        lt[bi, ci] = np.log(tot[bi, ci]) + top
    return lt


class PatternPlan(MixturePass):
    """The rows of a layout cut into items for :meth:`run` (built once per EM run).

    The patterns (complete rows first, then by group) are taken in chunks of at most
    :data:`_PATTERN_ELEMENTS` numbers of ``K (p + 1)^2`` pattern-level arrays, so that
    memory stays bounded for wide data with many patterns. Holds scratch buffers reused
    by every :meth:`run` (fresh multi-megabyte temporaries per batch cost page faults):
    one plan per thread. Parameters as :class:`~imputer.mixture._pass.MixturePass`.
    """

    def __init__(self, data: StandardData, k: int) -> None:
        super().__init__(data, k)
        p = data.p
        sources = pattern_sources(data)
        n_pat = sum(s[0].shape[0] for s in sources)
        size = max(1, _PATTERN_ELEMENTS // (k * (p + 1) ** 2))
        observed = np.ones((n_pat, p), dtype=bool)
        pieces: list[list[_Piece]] = [[] for _ in range(-(-n_pat // size))]
        first = 0
        for miss, rows, orig, counts in sources:
            g, m = miss.shape
            p_o = p - m
            observed[np.arange(first, first + g)[:, None], miss] = False
            obs = np.nonzero(observed[first : first + g])[1].reshape(g, p_o)
            # observed cells and a 1, then a zero row for the padding
            xo = np.zeros((rows.shape[0] + 1, p_o + 1))
            # each row's observed cells in column order (a boolean gather: 4x faster than
            # take_along_axis with a per-row index)
            xo[:-1, :p_o] = rows[np.repeat(observed[first : first + g], counts, axis=0)].reshape(rows.shape[0], p_o)
            xo[:-1, p_o] = 1.0
            orig_ext = np.append(np.asarray(orig, dtype=np.intp), self.n)
            row0 = np.concatenate([[0], np.cumsum(counts)])
            a = 0
            while a < g:  # the group's patterns, cut at the chunk boundaries
                c, pat0 = divmod(first + a, size)
                b = min(g, a + size - pat0)
                pieces[c].append(_piece(xo, orig_ext, obs[a:b], miss[a:b], counts[a:b], int(row0[a]), pat0, k))
                a = b
            first += g
        self.chunks = [_Chunk(pcs) for pcs in pieces]
        shapes = [(bt.x.shape, pc.p_o) for pcs in pieces for pc in pcs for bt in pc.batches]
        self._y = np.empty(max((s[0] * k * p_o * s[2] for s, p_o in shapes), default=0))
        self._z = np.empty(max((s[0] * max(k - 1, 1) * (p_o + 1) * s[2] for s, p_o in shapes), default=0))
        self._e = np.empty(max((s[0] * k * s[2] for s, _ in shapes), default=0))

    def run(
        self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray, *, stats: bool = True, rows: bool = False
    ) -> ComponentPass:
        """:meth:`MixturePass.run <imputer.mixture._pass.MixturePass.run>`."""
        k, p, n = self.k, self.p, self.n
        # no Sigma^-1 here: the pass needs only the observed blocks' factors (the
        # penalty, when there is one, computes its own)
        precs = logdets = None
        # components reordered so that the largest weight is last: its moments are the
        # total minus the others'
        perm = np.argsort(np.arange(k) == int(np.argmax(weights)), kind="stable")
        weights, means, covs = weights[perm], means[perm], covs[perm]
        with np.errstate(divide="ignore"):
            log_weights = np.log(weights)
        loglik = 0.0
        resp_all = np.empty((n + 1, k)) if rows else None
        dens_all = np.empty((n + 1, k)) if rows else None
        e_all = np.zeros((k, p + 1, p + 1))
        for piece in (pc for chunk in self.chunks for pc in chunk.pieces):
            p_o = piece.p_o
            fac = piece_factors(piece.index, covs, means, log_weights)
            # each pattern's log-densities shifted by its largest base (module docstring)
            shift = fac.base.max(axis=1)
            loglik += float(np.dot(piece.total[:, p_o, p_o], shift))
            base = (fac.base - shift[:, None])[:, :, None]
            mom = np.zeros((piece.total.shape[0], k, p_o + 1, p_o + 1)) if stats else None
            for bt in piece.batches:
                b, _, c = bt.x.shape
                y = self._y[: b * k * p_o * c].reshape(b, k * p_o, c)
                np.matmul(fac.w[bt.pat], bt.x, out=y)  # W x~ / sqrt 2, all components
                y4 = y.reshape(b, k, p_o, c)
                joint = np.einsum("bkjc,bkjc->bkc", y4, y4)  # d / 2
                np.subtract(base[bt.pat], joint, out=joint)  # <= 0
                e = self._e[: b * k * c].reshape(b, k, c)
                # below -700 a term is < 1e-304: 0 to any sum here, and exp's slow
                # (denormal) path avoided
                np.maximum(joint, -700.0, out=e)
                np.exp(e, out=e)
                tot = e.sum(axis=1)
                lt = _fix_far_rows(joint, e, tot)
                loglik += float(np.dot(lt.reshape(-1), bt.valid.reshape(-1)) if bt.valid is not None else lt.sum())
                np.divide(1.0, tot, out=tot)
                # the last component's responsibilities are needed only for the rows (its
                # moments are the total minus the others')
                e[:, : k if rows else k - 1] *= tot[:, None, :]
                if rows:
                    resp_all[bt.rows] = e.transpose(0, 2, 1)
                    joint += shift[bt.pat][:, None, None] - log_weights[:, None]
                    dens_all[bt.rows] = joint.transpose(0, 2, 1)
                if not stats or k == 1:
                    continue
                z = self._z[: b * (k - 1) * (p_o + 1) * c].reshape(b, k - 1, p_o + 1, c)
                np.multiply(e[:, : k - 1, None, :], bt.x[:, None], out=z)
                part = np.matmul(z.reshape(b, (k - 1) * (p_o + 1), c), bt.x.transpose(0, 2, 1))
                mom[bt.seg_pat, : k - 1] += (bt.seg_sum @ part.reshape(b, -1)).reshape(-1, k - 1, p_o + 1, p_o + 1)
            if stats:
                mom[:, k - 1] = piece.total - mom[:, : k - 1].sum(axis=1)
                e_all += completed_moments(fac, mom, piece.index)
        inv = np.argsort(perm)
        out_resp = out_dens = None
        if rows:
            out_resp, out_dens = resp_all[:n, inv], dens_all[:n, inv]
        if not stats:
            return ComponentPass(loglik, precs, logdets, out_resp, out_dens, None, None, None)
        e_all = e_all[inv]
        return ComponentPass(loglik, precs, logdets, out_resp, out_dens, e_all[:, p, p], e_all[:, :p, p], e_all[:, :p, :p])


#: Rows from which the compiled pass (:mod:`imputer.mixture._compiled`) replaces
#: :class:`PatternPlan` when numba is installed: below, its one-time compilation (about
#: 6 s, then cached on disk) would outweigh what it saves.
COMPILED_MIN_ROWS = 20_000


def compiled_available() -> bool:
    """Whether the compiled pass can be used: numba installed, the pass not switched off
    (``IMPUTER_COMPILED=0``), and its kernels compiled (or loaded from numba's cache) once
    in this process without error (:func:`_compiled_works`)."""
    if os.environ.get("IMPUTER_COMPILED", "1").strip() == "0":
        return False
    return importlib.util.find_spec("numba") is not None and _compiled_works()


@functools.cache
def _compiled_works() -> bool:
    """Compile (or load) the kernels on a tiny table: a numba that cannot (no writable cache,
    an unsupported numpy) fails here, with one warning, not in the middle of a fit."""
    try:
        from imputer.mixture._compiled import CompiledPlan  # numba imported here only

        x = np.array([[0.0, 1.0], [1.0, np.nan], [2.0, 0.5], [np.nan, 1.5], [1.0, 2.0]])
        covs = np.stack([np.eye(2), 2.0 * np.eye(2)])
        CompiledPlan(build_layout(x), 2).run(np.array([0.5, 0.5]), np.zeros((2, 2)), covs, rows=True)
    except Exception as exc:  # noqa: BLE001 (whatever numba raises, the numpy pass remains)
        warnings.warn(f"the compiled mixture pass is unavailable ({type(exc).__name__}: {exc}); numpy's is used", ImputerWarning, stacklevel=2)
        return False
    return True


def MixturePlan(data: StandardData, k: int) -> MixturePass:  # noqa: N802 (the plans' common constructor)
    """The pass for ``data``: a pattern pass when its patterns hold at least ``(p + 1)^2`` rows on average, else :class:`RowPlan`.

    The pattern pass costs about ``K p^3`` per pattern (factors, completion, each item's
    ``W``) on top of ``K p^2`` per row; with few rows per pattern (wide data, nearly one
    pattern per row) the row pass in update form, whose pattern-level work is only the
    ``m x m`` blocks of the missing cells, is faster. Measured crossovers (K = 3, 300
    patterns): about 100 rows per pattern at ``p = 10``, 500 at ``p = 20``; at 20,000 x 40
    with 19,671 patterns the row pass is 80x faster. The pattern pass is the compiled one
    (:class:`~imputer.mixture._compiled.CompiledPlan`) from :data:`COMPILED_MIN_ROWS` rows
    when :func:`compiled_available`, else :class:`PatternPlan`. All give the same
    statistics to rounding.
    """
    if data.n >= (data.p + 1) ** 2 * data.patterns.n_patterns:
        if data.n >= COMPILED_MIN_ROWS and compiled_available():
            from imputer.mixture._compiled import CompiledPlan

            return CompiledPlan(data, k)
        return PatternPlan(data, k)
    return RowPlan(data, k)
