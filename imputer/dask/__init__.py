"""Multivariate-normal EM imputation of Dask DataFrames: tables bigger than one machine's memory.

``imputer.impute(ddf)`` on a ``dask.dataframe.DataFrame`` calls :func:`impute` here: the
same estimates as in memory, computed by mapping the in-memory E-step over the
partitions (on a ``distributed`` cluster or dask's threaded scheduler), with the
completed table as a lazy Dask DataFrame; ``imputer.fit_mixed_frame(ddf, ...)`` fits a
linear mixed model from the partitions' sums (:mod:`imputer.dask.mixed`); ``imputer.multiple_impute(ddf)`` calls
:func:`multiple_impute` (lazy imputations). Needs the ``[dask]`` extra
(``pip install 'imputer[dask]'``); ``import imputer`` does not import Dask.
"""

from __future__ import annotations

from imputer.dask.api import impute, is_dask_collection
from imputer.dask.mi import DaskMultipleImputation, multiple_impute
from imputer.dask.mixed import fit_mixed_frame
from imputer.dask.mixed_result import DaskMixedResult
from imputer.dask.result import DaskImputeResult

__all__ = ["DaskImputeResult", "DaskMixedResult", "DaskMultipleImputation", "fit_mixed_frame", "impute", "is_dask_collection", "multiple_impute"]
