"""Standard errors of impute(): vcov against finite differences, closed forms, EM rate, caching, wire form.

References:

* :mod:`tests.reference.mvn_information`: the Hessian of a row-by-row observed-data
  log-likelihood (and log-posterior) by Richardson-extrapolated central differences of
  its textbook gradient, in the ``(mean, vech cov)`` parametrisation; ``vcov`` must be
  its negative inverse.
* Complete data: ``se(mean_j) = sqrt(s_jj / n)``, ``se(s_jk) = sqrt((s_jj s_kk + s_jk^2) / n)``
  (MLE divisor ``n``), zero covariance between means and covariances, no missing information.
* The worst fraction of missing information is the linear rate of plain EM: the ratio of
  successive parameter changes of ``accelerate=False`` iterates (``max_iter = k, k+1, k+2``).
"""

from __future__ import annotations

import json
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.mvn import _information
from tests.reference import mvn_information as ref

from .conftest import DATA, simulate

AIR = ["Ozone", "Solar.R", "Wind", "Temp"]


def _airquality() -> pd.DataFrame:
    return pd.read_csv(DATA / "airquality.csv")


def _mar(seed: int = 4, n: int = 150, p: int = 3, rate: float = 0.35) -> pd.DataFrame:
    df = simulate(n, p, seed=seed, mechanism="mar", rate=rate)
    df.iloc[7] = np.nan  # a row with nothing observed contributes nothing
    return df


CASES = {
    "airquality": (lambda: _airquality(), AIR, 0.0, "ridge"),
    "airquality-ridge": (lambda: _airquality(), AIR, 3.0, "ridge"),
    "airquality-amelia": (lambda: _airquality(), AIR, 3.0, "amelia"),
    "mar": (lambda: _mar(), None, 0.0, "ridge"),
    "mar-ridge": (lambda: _mar(seed=9, n=60, p=4, rate=0.3), None, 1.5, "ridge"),
    "mar-amelia": (lambda: _mar(seed=9, n=60, p=4, rate=0.3), None, 1.5, "amelia"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_vcov_is_the_inverse_of_the_finite_difference_hessian(case: str) -> None:
    make, columns, ridge, prior = CASES[case]
    df = make()
    res = imputer.impute(df, columns=columns, ridge=ridge, prior=prior, tol=1e-11)
    x = df[list(res.columns)].to_numpy(dtype=float)
    theta = ref.pack(res.mean.to_numpy(), res.cov.to_numpy())
    # at the maximum (the reference's gradient vanishes), then the curvature
    grad_scale = np.abs(ref.gradient(x, theta + 1e-3 * np.abs(theta), ridge, prior)).max()
    assert np.abs(ref.gradient(x, theta, ridge, prior)).max() < 1e-6 * grad_scale
    v_ref = np.linalg.inv(-ref.hessian(x, theta, ridge, prior=prior))
    v = res.vcov.to_numpy()
    sd = np.sqrt(np.diag(v_ref))
    np.testing.assert_allclose(v / np.outer(sd, sd), v_ref / np.outer(sd, sd), rtol=0, atol=2e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(v)), sd, rtol=1e-7)


@pytest.mark.parametrize("ridge", [0.0, 2.0])
def test_reference_gradient_is_the_derivative_of_the_row_by_row_loglik(ridge: float) -> None:
    # the reference's textbook gradient against central differences of its scipy log-likelihood
    df = _airquality()[AIR]
    x = df.to_numpy(dtype=float)
    mean, cov = np.nanmean(x, axis=0), np.diag(np.nanvar(x, axis=0)) * 1.3 + 0.1 * np.nanstd(x, axis=0)[:, None] * np.nanstd(x, axis=0)
    theta = ref.pack(mean, cov)
    g = ref.gradient(x, theta, ridge)
    fd = np.empty_like(theta)
    for j in range(theta.size):
        h = 1e-5 * max(abs(theta[j]), 1.0)
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        fd[j] = (ref.loglik(x, up, ridge) - ref.loglik(x, down, ridge)) / (2 * h)
    np.testing.assert_allclose(fd, g, rtol=1e-5, atol=1e-7 * np.abs(g).max())


@pytest.mark.parametrize("ridge", [0.5, 6.0])
def test_complete_data_with_a_prior(ridge: float) -> None:
    # at the posterior mode Sigma = (S + ridge D) / (n + ridge) the observed curvature is the complete-data
    # one: se(mean_j) = sqrt(Sigma_jj / n), se(Sigma_jk) = sqrt((Sigma_jj Sigma_kk + Sigma_jk^2) / (n + ridge))
    x = np.random.default_rng(7).normal(size=(40, 3)) @ np.array([[1.0, 0.4, 0.0], [0.0, 2.0, -0.5], [0.0, 0.0, 0.7]])
    res = imputer.impute(pd.DataFrame(x, columns=list("abc")), ridge=ridge)
    n, sigma = x.shape[0], res.cov.to_numpy()
    d = np.diag(sigma)
    np.testing.assert_allclose(res.se_mean.to_numpy(), np.sqrt(d / n), rtol=1e-9)
    np.testing.assert_allclose(res.se_cov.to_numpy(), np.sqrt((np.outer(d, d) + sigma**2) / (n + ridge)), rtol=1e-9)
    np.testing.assert_allclose(res.fraction_missing_info.to_numpy(), 0.0, atol=1e-9)


@pytest.mark.parametrize("p", [1, 3])
def test_complete_data_closed_forms(p: int) -> None:
    rng = np.random.default_rng(p)
    x = rng.normal(size=(80, p)) @ rng.normal(size=(p, p)) + rng.normal(size=p) * 10
    res = imputer.impute(pd.DataFrame(x, columns=[f"c{j}" for j in range(p)]))
    n = x.shape[0]
    s = np.cov(x.T, bias=True).reshape(p, p)  # the MLE, divisor n
    np.testing.assert_allclose(res.se_mean.to_numpy(), np.sqrt(np.diag(s) / n), rtol=1e-10)
    d = np.diag(s)
    np.testing.assert_allclose(res.se_cov.to_numpy(), np.sqrt((np.outer(d, d) + s**2) / n), rtol=1e-10)
    v = res.vcov.to_numpy()
    np.testing.assert_allclose(v[:p, p:], 0.0, atol=1e-12 * np.abs(v).max())  # means and covariances uncorrelated
    np.testing.assert_allclose(res.fraction_missing_info.to_numpy(), 0.0, atol=1e-12)
    assert abs(res.worst_fraction_missing_info) < 1e-12


def test_labels_and_shapes() -> None:
    df = _airquality()
    res = imputer.impute(df, columns=["Wind", "Ozone", "Temp"])
    labels = [
        "mean[Wind]", "mean[Ozone]", "mean[Temp]",
        "cov[Wind,Wind]", "cov[Wind,Ozone]", "cov[Wind,Temp]", "cov[Ozone,Ozone]", "cov[Ozone,Temp]", "cov[Temp,Temp]",
    ]  # fmt: skip
    assert list(res.vcov.index) == labels and list(res.vcov.columns) == labels
    assert list(res.fraction_missing_info.index) == labels
    assert list(res.se_mean.index) == ["Wind", "Ozone", "Temp"] and res.se_mean.name == "se_mean"
    se_cov = res.se_cov
    assert list(se_cov.index) == list(se_cov.columns) == ["Wind", "Ozone", "Temp"]
    np.testing.assert_array_equal(se_cov.to_numpy(), se_cov.to_numpy().T)
    assert se_cov.loc["Wind", "Ozone"] == pytest.approx(np.sqrt(res.vcov.loc["cov[Wind,Ozone]", "cov[Wind,Ozone]"]), rel=1e-15)
    np.testing.assert_array_equal(res.vcov.to_numpy(), res.vcov.to_numpy().T)
    # Ozone is missing in 37 rows: its parameters lose information; Wind's mean does not (always observed,
    # and the other columns' missingness does not involve it)
    fmi = res.fraction_missing_info
    assert 0.05 < fmi["mean[Ozone]"] < 0.5 and fmi["cov[Ozone,Ozone]"] > 0.05
    assert abs(fmi["mean[Wind]"]) < 1e-10 and fmi.max() <= res.worst_fraction_missing_info + 1e-12


def test_labels_of_non_string_columns() -> None:
    x = np.random.default_rng(0).normal(size=(40, 2))
    x[::5, 1] = np.nan
    res = imputer.impute(x)
    assert list(res.vcov.index) == ["mean[0]", "mean[1]", "cov[0,0]", "cov[0,1]", "cov[1,1]"]


@pytest.mark.parametrize("ridge", [0.0, 30.0])
def test_worst_fraction_is_the_rate_of_plain_em(ridge: float) -> None:
    # with a prior, EM's rate is I_com^-1 I_mis of the log-posterior (complete-data weight n + ridge for Sigma)
    df = simulate(300, 4, seed=2, mechanism="mar", rate=0.4)
    res = imputer.impute(df, tol=1e-12, ridge=ridge)
    sd = np.sqrt(np.diag(res.cov.to_numpy()))
    iu = np.triu_indices(4)

    def iterate(k: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", imputer.ConvergenceWarning)
            r = imputer.impute(df, accelerate=False, max_iter=k, tol=1e-300, ridge=ridge)
        return np.concatenate([r.mean.to_numpy() / sd, (r.cov.to_numpy() / np.outer(sd, sd))[iu]])

    t0, t1, t2 = iterate(30), iterate(31), iterate(32)
    rate = np.linalg.norm(t2 - t1) / np.linalg.norm(t1 - t0)
    assert 0.5 < res.worst_fraction_missing_info < 0.95  # a slow case, so the test can tell
    assert res.worst_fraction_missing_info == pytest.approx(rate, abs=2e-3)


def test_standard_errors_are_built_once_and_cached() -> None:
    df = _mar()
    a, b = imputer.impute(df), imputer.impute(df)
    early = pickle.loads(pickle.dumps(a))
    vcov = a.vcov
    for name in ["vcov", "se_mean", "se_cov", "fraction_missing_info"]:
        assert getattr(a, name) is getattr(a, name)
    assert a == b and hash(a) == hash(b)  # built on one side only: not part of the value
    late = pickle.loads(pickle.dumps(a))
    pd.testing.assert_frame_equal(early.vcov, vcov)
    pd.testing.assert_frame_equal(late.vcov, vcov)
    assert late.worst_fraction_missing_info == a.worst_fraction_missing_info
    assert late == a == early


@pytest.mark.parametrize("name", ["vcov", "se_mean", "se_cov", "fraction_missing_info"])
def test_cached_outputs_refuse_writes(name: str) -> None:
    res = imputer.impute(_mar())
    obj = getattr(res, name)
    with pytest.raises(ValueError, match="read-only"):
        if isinstance(obj, pd.DataFrame):
            obj.iloc[0, 0] = 99.0
        else:
            obj.iloc[0] = 99.0


@pytest.mark.parametrize("ridge", [0.0, 1.0])
def test_to_dict_with_standard_errors(ridge: float) -> None:
    res = imputer.impute(_airquality(), ridge=ridge)
    plain = res.to_dict()
    d = res.to_dict(standard_errors=True)
    json.dumps(d, allow_nan=False)
    extra = ["vcov", "se_mean", "se_cov", "fraction_missing_info", "worst_fraction_missing_info"]
    assert list(d) == list(plain) + extra
    assert not set(extra) & set(plain)
    assert d["vcov"]["columns"] == list(res.vcov.columns)
    assert np.allclose(d["vcov"]["data"], res.vcov.to_numpy(), rtol=0, atol=0)
    assert d["se_mean"] == {k: float(v) for k, v in res.se_mean.items()}
    assert d["se_cov"]["columns"] == list(res.columns)
    assert list(d["fraction_missing_info"]) == list(res.vcov.columns)
    assert d["worst_fraction_missing_info"] == res.worst_fraction_missing_info


def test_summary_shows_standard_errors_when_cheap() -> None:
    res = imputer.impute(_airquality())
    text = res.summary()
    assert re.search(r"\nworst missing info: +[0-9.]+\n", text)
    header = text.split("Per column\n")[1].splitlines()[0].split()
    assert header == ["missing", "mean", "se", "sd"]
    assert f"{res.se_mean['Ozone']:.6g}" in text


def test_summary_leaves_them_out_for_many_parameters() -> None:
    p = 31  # 527 parameters > SUMMARY_MAX_PARAMETERS
    assert _information.n_parameters(p) > _information.SUMMARY_MAX_PARAMETERS
    x = np.random.default_rng(1).normal(size=(50, p))
    res = imputer.impute(x)
    text = res.summary()
    assert "standard errors:" in text and "not shown for this size" in text
    assert "_information" not in res.__dict__  # summary() did not compute them
    assert "worst missing info" not in text


def test_vcov_refused_above_the_size_limit() -> None:
    p = 90  # 90 + 4095 = 4185 parameters; 89 columns (4094) are the most allowed
    assert _information.n_parameters(89) <= _information.MAX_PARAMETERS < _information.n_parameters(90)
    x = np.random.default_rng(2).normal(size=(100, p))
    res = imputer.impute(x)
    for name in ["vcov", "se_mean", "worst_fraction_missing_info"]:
        with pytest.raises(imputer.ImputerValueError, match=r"standard errors: 90 modelled columns have 4,185 parameters"):
            getattr(res, name)
    with pytest.raises(imputer.ImputerValueError, match=r"0\.1 GiB.*at most 4,096 parameters"):
        res.to_dict(standard_errors=True)


def test_singular_information_gives_nan_and_a_warning() -> None:
    # two rows observe y: Var(y | x) -> 0, the fit stops heading to a singular covariance
    x = np.random.default_rng(3).normal(size=30)
    y = np.full(30, np.nan)
    y[[0, 1]] = [1.0, 2.5]
    with pytest.warns(imputer.ConvergenceWarning, match="singular"):
        res = imputer.impute(pd.DataFrame({"x": x, "y": y}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # summary() says NaN without a warning
        assert re.search(r"worst missing info: +nan", res.summary())
    with pytest.warns(imputer.ConvergenceWarning, match="observed information is not positive definite"):
        se = res.se_mean
    assert se.isna().all()
    with pytest.warns(imputer.ConvergenceWarning):
        assert res.vcov.isna().all().all() and np.isnan(res.worst_fraction_missing_info)
    with pytest.warns(imputer.ConvergenceWarning):
        d = res.to_dict(standard_errors=True)
    assert d["worst_fraction_missing_info"] is None and set(d["se_mean"].values()) == {None}


def test_readme_standard_errors_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = DATA.parents[1]
    readme = (root / "README.md").read_text()
    block = readme.split("### Standard errors\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(root)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 -- the documented example
    res = namespace["res"]
    out = capsys.readouterr().out
    assert "Ozone" in out and f"{res.worst_fraction_missing_info}" in out  # type: ignore[attr-defined]


def test_lanczos_and_dense_worst_fraction_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    # above DENSE_EIGEN_MAX parameters the worst fraction comes from Lanczos on I_com x = mu I_obs x
    df = simulate(200, 5, seed=6, mechanism="mar", rate=0.3)
    dense = imputer.impute(df).worst_fraction_missing_info
    monkeypatch.setattr(_information, "DENSE_EIGEN_MAX", 0)
    lanczos = imputer.impute(df).worst_fraction_missing_info
    assert 0.1 < dense < 0.99 and lanczos == pytest.approx(dense, abs=1e-9)


@pytest.mark.parametrize("k", [1, 5, 7])
def test_mirror_lower_triangle(k: int) -> None:
    a = np.random.default_rng(k).normal(size=(k, k))
    expected = np.tril(a) + np.tril(a, -1).T
    _information._mirror_lower(a, block=3)
    np.testing.assert_array_equal(a, expected)


def test_nullable_and_float_columns_give_the_same_standard_errors() -> None:
    df = _airquality()[AIR]
    nullable = df.astype({"Ozone": "Int64", "Solar.R": "Int64"})
    a, b = imputer.impute(df), imputer.impute(nullable)
    assert b.completed["Ozone"].dtype == "Float64"
    pd.testing.assert_frame_equal(a.vcov, b.vcov, check_exact=True)
