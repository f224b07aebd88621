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
on first access to a standard error.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from typing import Any

import numpy as np

from imputer._gaussian.information import InformationSums, assemble_information, n_parameters
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.prior import as_prior
from imputer.dask import _kernels as k
from imputer.dask._engine import Backend, tree
from imputer.mvn._information import Information, _nan, check_size, finish_information
from imputer.mvn._scaling import Scaling

__all__ = ["DaskInformation", "partition_sums"]


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


def partition_sums(partitions: Any, backend: Backend, mu: np.ndarray, sigma: np.ndarray, scaling: Scaling) -> InformationSums | None:
    """The information's pattern sums at ``(mu, sigma)`` over all partitions (the Newton step of the fit)."""
    from dask import delayed

    token = uuid.uuid4().hex
    theta = delayed((mu, sigma, scaling), traverse=False, name=f"imputer-newton-theta-{token}")
    parts = [
        delayed(_partition, pure=True)(frame, partitions.columns, theta, dask_key_name=f"imputer-newton-{token}-{i}")
        for i, frame in enumerate(partitions.frames)
    ]
    return backend.compute(tree(parts, _add, f"imputer-newton-sum-{token}"))


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
    """

    def __init__(
        self, frames: list[Any], columns: tuple[Hashable, ...], mu: np.ndarray, sigma: np.ndarray,
        scaling: Scaling, ridge: float, n_rows: int, backend: Backend,
    ) -> None:
        self._frames, self._columns = frames, columns
        self._mu, self._sigma, self._scaling = mu, sigma, scaling
        self._ridge, self._n_rows, self._backend = ridge, n_rows, backend

    def __call__(self) -> Information:
        """One pass over the partitions; NaN outputs when the information is not positive definite.

        Raises
        ------
        ImputerValueError
            More than :data:`imputer.mvn._information.MAX_PARAMETERS` parameters.
        """
        from dask import delayed

        p = len(self._columns)
        check_size(p)
        token = uuid.uuid4().hex
        theta = delayed((self._mu, self._sigma, self._scaling), traverse=False, name=f"imputer-info-theta-{token}")
        parts = [
            delayed(_partition, pure=True)(frame, self._columns, theta, dask_key_name=f"imputer-info-{token}-{i}")
            for i, frame in enumerate(self._frames)
        ]
        total = self._backend.compute(tree(parts, _add, f"imputer-info-sum-{token}"))
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
