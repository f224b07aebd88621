r"""Standard errors of the Dask fit: the observed information as a sum over partitions.

The observed information of :mod:`imputer.mvn._information` is a sum over missingness
patterns of per-pattern terms, hence a sum over the rows' partitions ``P``:

.. math::

    I_{obs}(\hat\theta) = \sum_P I_P(\hat\theta) + I_{prior}(\hat\theta),

each ``I_P`` computed where its partition lives
(:func:`imputer.dask._kernels.partition_information`, the in-memory pattern sums),
summed by a tree reduction, the ridge prior's curvature added once on the client; then
``vcov``, the fractions of missing information and the worst fraction exactly as in
memory (:func:`imputer.mvn._information.finish_information`). One pass over the data,
on first access to a standard error; none when the fit made the table's per-pattern
moments (:mod:`imputer.dask._patterns`), from which the same sums follow on the client
(:func:`table_information`).
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from typing import Any

import numpy as np

from imputer._gaussian.information import (
    InformationSums,
    add_pattern_information,
    assemble_information,
    n_parameters,
    zero_information_sums,
)
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.prior import as_prior
from imputer.dask import _kernels as k
from imputer.dask._engine import Backend, tree
from imputer.dask._patterns import PatternTable, pattern_masks
from imputer.mvn._information import Information, _nan, check_size, finish_information
from imputer.mvn._scaling import Scaling

__all__ = ["DaskInformation", "partition_sums", "table_information"]


def _partition(frame: Any, columns: tuple[Hashable, ...], theta: tuple[np.ndarray, np.ndarray, Scaling]) -> InformationSums | None:
    return k.partition_information(frame, columns, *theta)


def _add(*parts: InformationSums | None) -> InformationSums | None:
    present = [p for p in parts if p is not None]
    if not present:
        return None
    total = present[0]
    for part in present[1:]:
        total = total + part
    return total


#: Numbers per temporary of :func:`table_information` (as in :mod:`imputer._gaussian.information`).
_ELEMENTS = 1 << 20


def table_information(table: PatternTable, mu: np.ndarray, sigma: np.ndarray) -> InformationSums | None:
    """The observed information's pattern sums from a :class:`~imputer.dask._patterns.PatternTable` (on the client, no pass).

    Per pattern, with ``mu_O`` the mean with 0 in the missing cells, the deviation sums
    about ``mu`` are ``d_g = t_g - c_g mu_O`` and ``S_g = T_g - t_g mu_O' - mu_O t_g' +
    c_g mu_O mu_O'``; :func:`imputer._gaussian.information.add_pattern_information` does
    the rest, as for rows in memory.
    """
    if table.n_patterns == 0:
        return None
    p = table.p
    lam, _ = k.precision(sigma)
    mask = pattern_masks(table)
    n_miss = mask.sum(axis=1)
    sums = zero_information_sums(p)
    per_chunk = max(1, _ELEMENTS // (4 * p * p))
    for m in np.unique(n_miss):
        if m == p:  # nothing observed: no term
            continue
        idx = np.flatnonzero(n_miss == m)
        for a in range(0, idx.size, per_chunk):
            g = idx[a : a + per_chunk]
            c = table.counts[g].astype(float)
            mu_o = np.where(mask[g], 0.0, mu)  # (G, p)
            t = table.t[g]
            d = t - c[:, None] * mu_o
            tm = t[:, :, None] * mu_o[:, None, :]
            s = table.T[g] - tm - tm.transpose(0, 2, 1) + c[:, None, None] * mu_o[:, :, None] * mu_o[:, None, :]
            miss = np.nonzero(mask[g])[1].astype(np.intp).reshape(g.size, int(m)) if m else None
            sums = add_pattern_information(sums, lam, miss, table.counts[g], d, s)
    return sums


def partition_sums(
    frames: list[Any], columns: tuple[Hashable, ...], backend: Backend, mu: np.ndarray, sigma: np.ndarray, scaling: Scaling
) -> InformationSums | None:
    """The information's pattern sums at ``(mu, sigma)`` over the partitions ``frames`` (one pass, a tree sum)."""
    from dask import delayed

    token = uuid.uuid4().hex
    theta = delayed((mu, sigma, scaling), traverse=False, name=f"imputer-info-theta-{token}")
    parts = [
        delayed(_partition, pure=True)(frame, columns, theta, dask_key_name=f"imputer-info-{token}-{i}")
        for i, frame in enumerate(frames)
    ]
    return backend.compute(tree(parts, _add, f"imputer-info-sum-{token}"))


class DaskInformation:
    """The :class:`~imputer.mvn._information.Information` of a Dask fit, computed when called.

    Parameters
    ----------
    frames : list of dask Delayed
        The partitions of the modelled columns.
    columns : tuple of labels, length p
    mu, sigma : ndarray, shapes (p,), (p, p)
        The estimate, standardised units.
    scaling : Scaling
    ridge : float
    n_rows : int
    backend : Backend
        Where the partitions' sums are computed.
    table : PatternTable, optional
        The table's per-pattern moments, when the fit made them: the information is then
        computed from them on the client, with no pass over the data.
    """

    def __init__(
        self, frames: list[Any], columns: tuple[Hashable, ...], mu: np.ndarray, sigma: np.ndarray,
        scaling: Scaling, ridge: float, n_rows: int, backend: Backend, table: PatternTable | None = None,
    ) -> None:
        self._frames, self._columns, self._table = frames, columns, table
        self._mu, self._sigma, self._scaling = mu, sigma, scaling
        self._ridge, self._n_rows, self._backend = ridge, n_rows, backend

    def __call__(self) -> Information:
        """One pass over the partitions; NaN outputs when the information is not positive definite.

        Raises
        ------
        ImputerValueError
            More than :data:`imputer.mvn._information.MAX_PARAMETERS` parameters.
        """
        p = len(self._columns)
        check_size(p)
        if self._table is not None:
            with k.blas_threads(p):
                total = table_information(self._table, self._mu, self._sigma)
            return self._finish(total)
        return self._finish(partition_sums(self._frames, self._columns, self._backend, self._mu, self._sigma, self._scaling))

    def _finish(self, total: InformationSums | None) -> Information:
        p = len(self._columns)
        if total is None:
            return _nan(n_parameters(p))
        prior = as_prior(self._ridge)
        try:
            i_obs = assemble_information(
                total, self._sigma, prior_weight=prior.weight, prior_logdet_weight=prior.logdet_weight,
                overwrite_sums=True,
            )
        except (Infeasible, np.linalg.LinAlgError):
            return _nan(n_parameters(p))
        return finish_information(i_obs, self._sigma, self._n_rows, prior, self._scaling)
