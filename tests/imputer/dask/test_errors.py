"""Bad input to the Dask engine: clear ``imputer`` errors naming what is at fault.

The checks of values (a column with no observed value, an infinite value, a constant
column, too few rows) give the in-memory engine's messages, found by the one scan.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError

dd = pytest.importorskip("dask.dataframe")


def _ddf(frame: pd.DataFrame, n: int = 2) -> Any:
    return dd.from_pandas(frame, npartitions=n)


GOOD = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.0, 3.0], "b": [2.0, np.nan, 1.0, 5.0, 4.0, 7.0]})


@pytest.mark.parametrize(
    ("data", "err", "match"),
    [
        (lambda: _ddf(GOOD)["a"], ImputerTypeError, r"data is a dask Series.*to_frame\(\)"),
        (lambda: _ddf(GOOD).to_dask_array(lengths=True), ImputerTypeError, r"dask\.array.*from_dask_array"),
        (lambda: _ddf(GOOD.iloc[:0]), ImputerValueError, r"data is empty \(0 rows x 2 columns\)"),
        (lambda: _ddf(GOOD.iloc[:1], 1), ImputerValueError, "data has a single row"),
        (lambda: _ddf(pd.DataFrame({"a": [1.0, 2, 3], "b": [3.0, 1, 2], "c": [1.0, 3, 2]})), ImputerValueError, "data has 3 rows for 3 modelled columns"),
        (lambda: _ddf(GOOD.assign(b=np.nan)), ImputerValueError, "column 'b' has no observed value"),
        (lambda: _ddf(GOOD.assign(b=[1.0, np.inf, 2, 3, 4, 5])), ImputerValueError, "column 'b' contains an infinite value"),
        (lambda: _ddf(GOOD.assign(b=[7.0, np.nan, 7, 7, 7, 7])), ImputerValueError, "column 'b' is constant"),
        (lambda: _ddf(GOOD.assign(a="x", b="y")), ImputerTypeError, "data has no numeric column to model"),
    ],
    ids=["series", "array", "empty", "single-row", "n<=p", "no-observed", "infinite", "constant", "no-numeric"],
)
def test_bad_data(data: Any, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        imputer.impute(data(), progress=False)


def test_object_column_named_in_columns() -> None:
    frame = GOOD.assign(c=pd.Series(["1", "2", "x", None, "5", "6"], dtype=object))
    with pytest.raises(ImputerTypeError, match="columns: column 'c' has non-numeric dtype"):
        imputer.impute(_ddf(frame), columns=["a", "c"], progress=False)


def test_text_in_a_column_announced_as_numeric() -> None:
    # the metadata says float64, a partition holds text: named at the first pass
    pieces = [GOOD.iloc[:3], GOOD.iloc[3:].astype({"b": object}).assign(b=["1.5", "oops", None])]
    ddf = dd.from_map(lambda x: x, pieces, meta=GOOD.iloc[:0], enforce_metadata=False)
    with pytest.raises(ImputerTypeError, match=r"column 'b' holds non-numeric values \(dtype \w+ in a partition of 3 rows\)"):
        imputer.impute(ddf, progress=False)


@pytest.mark.parametrize(
    ("options", "err", "match"),
    [
        ({"persist": "yes"}, ImputerTypeError, "persist must be True, False or None"),
        ({"progress": 1}, ImputerTypeError, "progress must be True or False"),
        ({"client": "tcp://127.0.0.1:8786"}, ImputerTypeError, "client must be a distributed.Client, got str"),
        ({"tol": -1.0}, ImputerValueError, "tol"),
        ({"columns": ["zz"]}, ImputerValueError, "columns: unknown column 'zz'"),
    ],
)
def test_bad_options(options: dict[str, Any], err: type[Exception], match: str) -> None:
    opts = {"progress": False, **options}
    with pytest.raises(err, match=match):
        imputer.impute(_ddf(GOOD), **opts)


def test_dask_options_on_a_pandas_table() -> None:
    with pytest.raises(ImputerTypeError, match=r"unexpected option\(s\) persist \(persist and client are options for a Dask"):
        imputer.impute(GOOD, persist=True)


@pytest.mark.parametrize("option", [{"max_time": 5.0}, {"transforms": {"a": "log"}}, {"callback": print}])
def test_in_memory_only_options(option: dict[str, Any]) -> None:
    with pytest.raises(ImputerTypeError, match=f"{next(iter(option))}: not available for a Dask DataFrame"):
        imputer.impute(_ddf(GOOD), **option)


MIXED = pd.DataFrame({
    "x": [1.0, np.nan, 3.0, 2.5, 4.0, np.nan, 2.0, 5.0],
    "y": [2.0, 1.5, np.nan, 3.0, 4.5, 2.0, 1.0, 6.0],
    "g": pd.Categorical(["a", "b", None, "a", "b", "a", None, "b"]),
})


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"categorical": ["g"]}, r"^categorical: not available for a Dask DataFrame \(imputer\.dask\.impute"),
        ({"categorical": "auto"}, r"^categorical: not available for a Dask DataFrame"),
        ({"continuous": ["x"]}, r"^continuous: not available for a Dask DataFrame"),
        ({"means": "auto"}, r"^means: not available for a Dask DataFrame"),
        ({"probabilities": "saturated"}, r"^probabilities: not available for a Dask DataFrame"),
        ({"categorical": ["g"], "means": "additive"}, r"^categorical, means: not available for a Dask DataFrame"),
        ({"prior": "amelia", "ridge": 1.0}, r"^prior: not available for a Dask DataFrame"),
    ],
    ids=["categorical", "categorical-auto", "continuous", "means", "probabilities", "two", "prior"],
)
def test_general_location_options_refused(option: dict[str, Any], match: str) -> None:
    """The general location model's options are in memory only: refused, not a plain normal fit leaving
    the categorical column's gaps unfilled."""
    with pytest.raises(ImputerTypeError, match=match):
        imputer.impute(_ddf(MIXED), **option)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda d: imputer.patterns(d), "imputer.patterns"),
        (lambda d: imputer.patterns(d, columns=["x"]), "imputer.patterns"),
        (lambda d: imputer.mcar_test(d), "imputer.mcar_test"),
        (lambda d: imputer.disperse(d, starts=2, seed=0), "imputer.disperse"),
    ],
    ids=["patterns", "patterns-columns", "mcar_test", "disperse"],
)
@pytest.mark.parametrize("frame", [GOOD.rename(columns={"a": "x", "b": "y"}), MIXED], ids=["numeric", "with-text"])
def test_diagnostics_refuse_a_dask_frame(call: Any, name: str, frame: pd.DataFrame) -> None:
    """In memory only: read as an array, a Dask frame lost its labels (columns 0..p-1, ``columns=["x"]``
    unknown) and a non-numeric column stopped it with "holds the non-numeric value"."""
    with pytest.raises(ImputerTypeError, match=rf"^{name}: not available for a Dask DataFrame \(.*data\.compute\(\)"):
        call(_ddf(frame))


@pytest.mark.parametrize(
    "call",
    [lambda d: imputer.impute_t(d), lambda d: imputer.impute_mixture(d, n_components=1), lambda d: imputer.impute_glom(d, categorical=["g"])],
    ids=["impute_t", "impute_mixture", "impute_glom"],
)
def test_in_memory_functions_refuse_a_dask_frame(call: Any) -> None:
    """Any in-memory function's table check refuses a Dask frame rather than reading it as an unlabelled array."""
    with pytest.raises(ImputerTypeError, match=r"^data is a Dask DataFrame, which this function does not take; pass data\.compute\(\)"):
        call(_ddf(MIXED))


def test_singular_covariance_warns_as_in_memory() -> None:
    frame = GOOD.assign(c=GOOD["a"] * 2.0 + 1.0)
    with pytest.warns(imputer.ConvergenceWarning, match="singular") as got:
        res = imputer.impute(_ddf(frame), progress=False)
    assert not res.converged and res.trace.stop_reason == "singular"
    assert got[0].filename == __file__


def test_import_imputer_leaves_dask_alone() -> None:
    code = "import sys, imputer; print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_progress_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    res = imputer.impute(_ddf(GOOD), progress=True)
    err = capfd.readouterr().err
    assert f"EM evaluation {res.n_evals + 1:4d}" in err  # the last line: the final evaluation
    assert "[#" in err and "100%" in err  # dask's progress bar of the passes over the data
    imputer.impute(_ddf(GOOD), progress=False)
    assert capfd.readouterr().err == ""
