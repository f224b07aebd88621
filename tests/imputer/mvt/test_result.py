"""``TImputeResult``: a frozen value with labelled fields, ``summary()`` and a JSON-ready ``to_dict()``."""

from __future__ import annotations

import json
import pickle
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.imputer import mutations

from .conftest import AIR_COLUMNS, datasets


def _fit(**kwargs: Any) -> imputer.TImputeResult:
    return imputer.impute_t(datasets()["airquality"], **kwargs)


def test_fields_are_labelled_and_consistent() -> None:
    res = _fit()
    assert res.columns == tuple(AIR_COLUMNS)
    for frame in (res.scale, res.cov):
        assert list(frame.index) == list(frame.columns) == AIR_COLUMNS
    assert list(res.mean.index) == AIR_COLUMNS
    assert res.n_missing.to_dict() == {"Ozone": 37, "Solar.R": 7, "Wind": 0, "Temp": 0}
    assert res.n_rows == 153 and res.n_patterns == 4 and res.dof_estimated
    assert res.options == {"dof": None, "tol": 1e-7, "max_iter": 1000, "ridge": 0.0, "accelerate": True}
    assert _fit(dof=4).options["dof"] == 4.0
    assert res.n_evals >= res.n_iter >= 1 and res.loglik_history.size >= res.n_iter


def test_to_dict_is_json_ready() -> None:
    res = _fit()
    d = res.to_dict(conditional_var=True)
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["dof"] == res.dof and back["dof_estimated"] is True
    assert back["mean"] == {k: float(v) for k, v in res.mean.items()}
    assert back["row_weights"]["data"] == res.row_weights.tolist()
    assert back["options"]["dof"] is None and back["loglik"] == res.loglik
    assert set(back) >= {"completed", "scale", "cov", "conditional_var", "loglik_history", "trace", "n_missing"}


def test_no_finite_covariance_below_two_dof() -> None:
    res = _fit(dof=1.5)
    assert res.cov.isna().all().all() and np.isfinite(res.scale.to_numpy()).all()
    assert all(v is None for row in res.to_dict()["cov"]["data"] for v in row)
    assert "No finite covariance: dof = 1.5 <= 2" in res.summary()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "(estimated in [0.5, 1000])"),
        ({"dof": 4}, "4 (fixed)"),
        ({"dof": 3, "ridge": 2.0}, "posterior mode, ridge prior 2"),
        ({"accelerate": False}, "none (plain EM)"),
    ],
)
def test_summary_reports_the_fit(kwargs: dict[str, Any], expected: str) -> None:
    res = _fit(**kwargs)
    text = res.summary()
    assert text.startswith("Multivariate-t EM imputation") and expected in text
    assert "Smallest row weights" in text and str(res.row_weights.idxmin()) in text
    assert "missing cells:" in text and "44 of 612" in text


def test_dof_at_the_upper_bound_says_normal() -> None:
    # uniform data have lighter tails than a normal's: the likelihood increases in nu up to the bound
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(300, 2))
    x[:, 1] += x[:, 0]
    x[rng.random(300) < 0.2, 1] = np.nan
    res = imputer.impute_t(x)
    assert res.dof == res.dof_bounds[1] == 1000.0
    assert "at the upper bound: no heavier tails than a normal" in res.summary()


def test_equal_fits_are_equal_hash_alike_and_pickle() -> None:
    a, b = _fit(), _fit()
    assert a == b and hash(a) == hash(b)
    assert a != _fit(dof=4) and a != "x"
    c = pickle.loads(pickle.dumps(a))
    assert c == a
    pd.testing.assert_frame_equal(c.conditional_var, a.conditional_var)


def test_conditional_var_is_built_once_and_read_only() -> None:
    res = _fit()
    v = res.conditional_var
    assert v is res.conditional_var
    with pytest.raises(ValueError, match="read-only"):
        v.iloc[0, 0] = 1.0
    observed = datasets()["airquality"].notna().to_numpy()
    assert (v.to_numpy()[observed] == 0).all() and (v.to_numpy()[~observed] > 0).all()


@pytest.mark.parametrize("name", ["completed", "mean", "scale", "cov", "row_weights", "n_missing"])
@pytest.mark.parametrize("mutate", mutations.BASIC, ids=lambda f: f.__name__)
def test_changing_a_read_field_leaves_the_result_unchanged(name: str, mutate: Any) -> None:
    res = _fit(dof=4)
    before = pickle.loads(pickle.dumps(res))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mutate(getattr(res, name))
    except (ValueError, TypeError):
        pass  # refused: fine
    assert res == before


def test_is_frozen() -> None:
    res = _fit(dof=4)
    with pytest.raises(AttributeError):
        res.dof = 3.0  # type: ignore[misc]
