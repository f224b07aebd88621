"""Bad input to fit_mixed / fit_mixed_frame: a clear error naming what is wrong (issue 3)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from imputer import ConvergenceWarning, ImputerTypeError, ImputerValueError, fit_mixed, fit_mixed_frame

RNG = np.random.default_rng(3)
N, Q = 24, 4
Y = RNG.normal(size=N)
Z = np.kron(np.eye(Q), np.ones((N // Q, 1)))
X = np.column_stack([np.ones(N), RNG.normal(size=N)])


def _k(a: np.ndarray) -> dict:
    return {"Z": Z, "K": a}


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"ZETA": [{"Z": Z[:-1]}]}, ImputerValueError, r"Z of random effect 'u1' has 23 rows but y has 24"),
        ({"ZETA": [_k(np.ones((4, 3)))]}, ImputerValueError, r"K of random effect 'u1' must be square"),
        ({"ZETA": [_k(np.eye(5))]}, ImputerValueError, r"K of random effect 'u1' is 5 x 5 but Z has 4 columns"),
        ({"ZETA": [_k(np.triu(np.ones((4, 4))))]}, ImputerValueError, r"K of random effect 'u1' is not symmetric"),
        ({"ZETA": [_k(np.diag([1.0, 1.0, 1.0, -0.5]))]}, ImputerValueError, r"K of random effect 'u1' is not positive semi-definite"),
        ({"ZETA": {"g": {"Z": Z, "K": np.full((4, 4), np.nan)}}}, ImputerValueError, r"K of random effect 'g' contains non-finite"),
        ({"ZETA": {"g": {"Z": np.where(Z > 0, np.inf, 0.0)}}}, ImputerValueError, r"Z of random effect 'g' contains non-finite"),
        ({"ZETA": {"g": {"K": np.eye(4)}}}, ImputerValueError, r"random effect 'g' has no 'Z'"),
        ({"ZETA": {"g": {"Z": Z, "G": np.eye(4)}}}, ImputerValueError, r"random effect 'g' has unknown key\(s\) \['G'\]"),
        ({"ZETA": {"residual": {"Z": Z}}}, ImputerValueError, r"'residual' is reserved"),
        ({"ZETA": [Z]}, ImputerTypeError, r"random effect 'u1' must be a dict"),
        ({"ZETA": Z}, ImputerTypeError, r"ZETA must be a list or dict"),
        ({"X": np.column_stack([X, X[:, 1] * 2.0])}, ImputerValueError, r"X is rank-deficient .*\['x2', 'x3'\]"),
        ({"X": pd.DataFrame({"a": np.ones(N), "b": np.ones(N)})}, ImputerValueError, r"X is rank-deficient .*\['a', 'b'\]"),
        ({"X": pd.DataFrame({"a": np.ones(N), "z": np.zeros(N)})}, ImputerValueError, r"column\(s\) \['z'\] are zero"),
        ({"X": np.where(np.arange(N)[:, None] == 3, np.nan, X)}, ImputerValueError, r"X contains NaN in column\(s\) \['x1', 'x2'\]"),
        ({"X": np.where(np.arange(N)[:, None] == 3, np.inf, X)}, ImputerValueError, r"X contains non-finite"),
        ({"X": X[:-2]}, ImputerValueError, r"X has 22 rows but y has 24"),
        ({"X": pd.DataFrame({"a": ["u"] * N})}, ImputerTypeError, r"X column\(s\) \['a'\] are not numeric"),
        ({"method": "MLE"}, ImputerValueError, r"method must be one of \['REML', 'ML'\], got 'MLE'"),
        ({"tol": -1.0}, ImputerValueError, r"tol must be a positive finite number"),
        ({"max_iter": 0}, ImputerValueError, r"max_iter must be a positive integer"),
        ({"max_iter": 2.5}, ImputerTypeError, r"max_iter must be a positive integer"),
        ({"accelerate": "yes"}, ImputerTypeError, r"accelerate must be True or False"),
        ({"init": [1.0, 1.0, 1.0]}, ImputerValueError, r"init must have 2 variances"),
        ({"init": {"u1": 1.0}}, ImputerValueError, r"init must give a variance for each of \['u1', 'residual'\]"),
        ({"init": [1.0, 0.0]}, ImputerValueError, r"init variances must be positive"),
        ({"tol": "1e-8"}, ImputerTypeError, r"tol must be a positive number, got '1e-8'"),
        ({"init": 3.0}, ImputerTypeError, r"init must be a dict, Series or sequence of variances, got float"),
        ({"init": ["a", 1.0]}, ImputerTypeError, r"init must contain numbers"),
        ({"X": np.empty((N, 0))}, ImputerValueError, r"X has no columns"),
        ({"X": np.ones((N, 2, 1))}, ImputerValueError, r"X must be 2-D \(n, p\), got shape \(24, 2, 1\)"),
        ({"X": pd.DataFrame(X, columns=["a", "a"])}, ImputerValueError, r"X column names are not unique: \['a', 'a'\]"),
        ({"X": pd.DataFrame(X, columns=[1, "1"])}, ImputerValueError, r"X column names are not unique: \['1', '1'\]"),
        ({"ZETA": [_k(np.zeros((4, 4)))]}, ImputerValueError, r"K of random effect 'u1' is all zero"),
        ({"ZETA": [{"Z": np.ones((N, 2, 2))}]}, ImputerValueError, r"Z of random effect 'u1' must be 2-D"),
        ({"ZETA": [{"Z": np.ones((N, 0))}]}, ImputerValueError, r"Z of random effect 'u1' has no columns"),
        ({"ZETA": [{"Z": np.full((N, Q), "a")}]}, ImputerTypeError, r"Z of random effect 'u1' must be numeric"),
        ({"ZETA": {1: {"Z": Z}, "1": {"Z": Z}}}, ImputerValueError, r"ZETA: component names are not unique: \['1', '1'\]"),
        ({"ZETA": {"Z": Z}}, ImputerTypeError, r"ZETA must be a list or dict of random effects, e\.g\."),
    ],
)
def test_bad_arguments(kwargs: dict, err: type, match: str) -> None:
    args = {"X": None, "ZETA": [{"Z": Z}]} | kwargs
    with pytest.raises(err, match=match):
        fit_mixed(Y, **args)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.full(N, np.nan), r"y: all values are missing"),
        (np.where(np.arange(N) < N - 2, np.nan, Y), r"y: only 2 observed values for 2 fixed effects"),
        (np.where(np.arange(N) == 0, np.inf, Y), r"y contains infinite values"),
        (np.ones((N, 2, 2)), r"y must be 1-D"),  # (N, 2) is a multi-trait Y now
        (pd.DataFrame({"a": Y, "b": np.nan}), r"Y: trait .b. has no observed values"),  # 2 columns: multi-trait
    ],
)
def test_bad_response(y: np.ndarray, match: str) -> None:
    with pytest.raises(ImputerValueError, match=match):
        fit_mixed(y, X, [{"Z": Z}])


@pytest.mark.parametrize(
    ("y", "x"),
    [
        (np.zeros(N), None),
        (np.full(N, 2.0), None),  # residuals of ~1e-16 from rounding, not exactly zero
        (np.where(np.arange(N) == 0, np.nan, 0.1 + 0.3 * X[:, 1]), X),
    ],
)
def test_y_fitted_exactly_by_x_is_rejected(y: np.ndarray, x: np.ndarray | None) -> None:
    with pytest.raises(ImputerValueError, match=r"y: the observed values are fitted exactly by X"):
        fit_mixed(y, x, [{"Z": Z}])


def test_rank_is_checked_on_the_observed_rows() -> None:
    # column 'b' is non-zero only where y is missing: rank-deficient for the fit
    b = np.zeros(N)
    b[:3] = 1.0
    y = Y.copy()
    y[:3] = np.nan
    Xd = pd.DataFrame({"(Intercept)": np.ones(N), "b": b})
    with pytest.raises(ImputerValueError, match=r"\['b'\] are zero on the rows with observed y"):
        fit_mixed(y, Xd, [{"Z": Z}])


def test_random_effect_without_observed_rows_is_rejected() -> None:
    y = Y.copy()
    y[: N // Q] = np.nan  # level 0 only
    Z0 = Z[:, :1]
    with pytest.raises(ImputerValueError, match=r"random effect 'lonely': Z is zero on every row with observed y"):
        fit_mixed(y, None, {"g": {"Z": Z}, "lonely": {"Z": Z0}})


@pytest.mark.parametrize("scale", [1.0, -2.5])
def test_one_observation_per_level_with_identity_k_is_not_identifiable(scale: float) -> None:
    y = Y.copy()
    y[-1] = np.nan  # the unobserved row's level does not help: still Z_o Z_o' = c I
    with pytest.raises(ImputerValueError, match=r"random effect 'unit': every observed y is in a level of its own"):
        fit_mixed(y, None, {"g": {"Z": Z}, "unit": {"Z": scale * np.eye(N)}})


def test_one_observation_per_level_is_fine_with_a_kernel() -> None:
    K = 0.5 ** np.abs(np.subtract.outer(np.arange(N), np.arange(N)))  # AR(1): identifiable
    res = fit_mixed(Y, None, {"unit": {"Z": np.eye(N), "K": K}})
    assert res.converged and np.all(np.isfinite(res.var_comp))


def test_z_dataframe_index_must_match_y() -> None:
    ys = pd.Series(Y, index=np.arange(N) + 100)
    with pytest.raises(ImputerValueError, match=r"Z of random effect 'g': its index does not match y's index"):
        fit_mixed(ys, None, {"g": {"Z": pd.DataFrame(Z)}})


def test_mismatched_labelled_kernel_is_rejected() -> None:
    Zdf = pd.DataFrame(Z, columns=list("abcd"))
    K = pd.DataFrame(np.eye(4), index=list("abcx"), columns=list("abcx"))
    with pytest.raises(ImputerValueError, match=r"K of random effect 'g' must be indexed .* by Z's column labels"):
        fit_mixed(Y, None, {"g": {"Z": Zdf, "K": K}})


def test_mismatched_x_index_is_rejected() -> None:
    ys = pd.Series(Y, index=np.arange(N) + 100)
    Xd = pd.DataFrame({"(Intercept)": np.ones(N)})
    with pytest.raises(ImputerValueError, match=r"X's index does not match y's index"):
        fit_mixed(ys, Xd, [{"Z": Z}])


def test_non_convergence_warns_and_reports() -> None:
    with pytest.warns(ConvergenceWarning, match=r"did not converge in max_iter=1"):
        res = fit_mixed(Y, X, [{"Z": Z}], max_iter=1, accelerate=False)
    assert not res.converged
    assert res.n_iter == 1


def test_good_input_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_mixed(Y, X, [{"Z": sp.csr_matrix(Z)}])


FRAME = pd.DataFrame(
    {
        "y": Y,
        "x": X[:, 1],
        "g": np.repeat(list("abcd"), N // Q),
        "h": np.tile(["p", "q"], N // 2),
        "s": ["t"] * N,
    }
)


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"random": ["nope"]}, ImputerValueError, r"random: column 'nope' is not in data"),
        ({"random": ["g:nope"]}, ImputerValueError, r"random term 'g:nope': column 'nope' is not in data"),
        ({"random": ["g:"]}, ImputerValueError, r"random: term 'g:' is malformed"),
        ({"random": []}, ImputerValueError, r"random: give at least one grouping term"),
        ({"random": ["g", "g"]}, ImputerValueError, r"random: terms are not unique"),
        ({"random": ["g"], "fixed": ["nope"]}, ImputerValueError, r"fixed: column 'nope' is not in data"),
        ({"random": ["g"], "fixed": ["y"]}, ImputerValueError, r"fixed: 'y' is the response"),
        ({"random": ["g"], "fixed": ["s"]}, ImputerValueError, r"fixed: column 's' has only one level \('t'\)"),
        ({"random": ["g"], "intercept": False}, ImputerValueError, r"fixed: no fixed effects"),
        ({"random": ["g"], "fixed": ["x", "x2"]}, ImputerValueError, r"X is rank-deficient .*\['x', 'x2'\]"),
        ({"random": ["g"], "kernels": {"h": np.eye(2)}}, ImputerValueError, r"kernels: term\(s\) \['h'\] are not in random"),
        ({"random": ["g"], "kernels": {"g": np.eye(4)}}, ImputerTypeError, r"kernels\['g'\] must be a DataFrame"),
        (
            {"random": ["g"], "kernels": {"g": pd.DataFrame(np.eye(3), index=list("abc"), columns=list("abc"))}},
            ImputerValueError,
            r"kernels\['g'\] has no row for level\(s\) \['d'\]",
        ),
        (
            {"random": ["g"], "kernels": {"g": pd.DataFrame(np.eye(4), index=list("abcd"), columns=list("abdc"))}},
            ImputerValueError,
            r"kernels\['g'\]: the index and the columns must hold the same levels",
        ),
        (
            {"random": ["g"], "kernels": {"g": pd.DataFrame(-np.eye(4), index=list("abcd"), columns=list("abcd"))}},
            ImputerValueError,
            r"K of random effect 'g' is not positive semi-definite",
        ),
        ({"random": ["g"], "method": "RE ML"}, ImputerValueError, r"method must be one of"),
        ({"random": ["g"], "intercept": "yes"}, ImputerTypeError, r"intercept must be True or False"),
        ({"random": "g", "fixed": 3}, ImputerTypeError, r"fixed must be a list of column names"),
        ({"random": ["g"], "kernels": [np.eye(4)]}, ImputerTypeError, r"kernels must be a dict term -> DataFrame, got list"),
        (
            {"random": ["g"], "kernels": {"g": pd.DataFrame(np.eye(4), index=list("abcc"), columns=list("abcc"))}},
            ImputerValueError,
            r"kernels\['g'\]: the levels in the index are not unique",
        ),
        (
            {"random": ["g"], "kernels": {"g": pd.DataFrame(np.full((4, 4), "s"), index=list("abcd"), columns=list("abcd"))}},
            ImputerTypeError,
            r"kernels\['g'\] must be numeric",
        ),
        (
            {"random": ["g"], "kernels": {"g": pd.DataFrame(np.diag([1.0, np.nan, 1.0, 1.0]), index=list("abcd"), columns=list("abcd"))}},
            ImputerValueError,
            r"kernels\['g'\] contains non-finite values",
        ),
    ],
)
def test_bad_frame_arguments(kwargs: dict, err: type, match: str) -> None:
    data = FRAME.assign(x2=2.0 * FRAME["x"])
    with pytest.raises(err, match=match):
        fit_mixed_frame(data, "y", **kwargs)


@pytest.mark.parametrize(
    ("column", "value", "err", "match"),
    [
        ("g", None, ImputerValueError, r"random: column 'g' has 1 missing value"),
        ("x", np.nan, ImputerValueError, r"fixed: column 'x' has 1 missing value"),
        ("y", np.inf, ImputerValueError, r"response: column 'y' has infinite values"),
        ("y", "text", ImputerTypeError, r"response: column 'y' is not numeric"),
    ],
)
def test_bad_frame_values(column: str, value: object, err: type, match: str) -> None:
    data = FRAME.astype({column: object})
    data.loc[5, column] = value
    if column == "y" and value is not None and not isinstance(value, str):
        data = data.astype({"y": float})
    if column == "x":
        data = data.astype({"x": float})
    with pytest.raises(err, match=match):
        fit_mixed_frame(data, "y", fixed=["x"], random=["g"])


@pytest.mark.parametrize(
    ("data", "fixed", "match"),
    [
        (pd.concat([FRAME, FRAME[["y"]]], axis=1), None, r"response: column name 'y' is not unique in data"),
        (pd.concat([FRAME, FRAME[["x"]]], axis=1), ["x"], r"fixed: column name 'x' is not unique in data"),
        (FRAME.assign(x=np.where(np.arange(N) == 2, np.inf, FRAME["x"])), ["x"], r"fixed: column 'x' has non-finite values"),
    ],
)
def test_bad_frame_columns(data: pd.DataFrame, fixed: list | None, match: str) -> None:
    with pytest.raises(ImputerValueError, match=match):
        fit_mixed_frame(data, "y", fixed=fixed, random=["g"])


def test_frame_requires_a_dataframe_and_a_response_column() -> None:
    with pytest.raises(ImputerTypeError, match=r"data must be a pandas DataFrame"):
        fit_mixed_frame(FRAME.to_numpy(), "y", random=["g"])
    with pytest.raises(ImputerValueError, match=r"response: column 'yy' is not in data"):
        fit_mixed_frame(FRAME, "yy", random=["g"])
    with pytest.raises(ImputerValueError, match=r"response: column 'y' is entirely missing"):
        fit_mixed_frame(FRAME.assign(y=np.nan), "y", random=["g"])
