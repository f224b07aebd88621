"""imputer.disperse: EM from overdispersed starts, against Murray's two maxima and saddle point.

Reference. Murray's (1977) twelve rows (Little & Rubin, *Statistical Analysis with
Missing Data*, 2nd ed., section 8.1): the observed-data likelihood of the bivariate
normal has two maxima, ``mu = 0``, ``sigma_11 = sigma_22 = 8/3``, ``rho = +-1/2``, and a
saddle point at ``rho = 0`` with ``sigma_11 = sigma_22 = 5/2``. The values are checked
here against scipy's direct maximisation of the same likelihood (:func:`_direct`), from
two starts, and the saddle's log-likelihood against the density written out.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.stats import multivariate_normal, norm

import imputer
from imputer.diagnostics.dispersion import dispersed_start, group_points, sd_distance
from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError

DATA = Path(__file__).resolve().parents[2] / "data"
nan = math.nan
MURRAY = pd.DataFrame(
    {
        "x1": [1, 1, -1, -1, 2, 2, -2, -2, nan, nan, nan, nan],
        "x2": [1, -1, 1, -1, nan, nan, nan, nan, 2, 2, -2, -2],
    }
)


def _loglik(mu: np.ndarray, cov: np.ndarray) -> float:
    """Murray's observed-data log-likelihood, the densities written out."""
    x = MURRAY.to_numpy()
    sd = np.sqrt(np.diag(cov))
    return float(
        multivariate_normal.logpdf(x[:4], mu, cov).sum()
        + norm.logpdf(x[4:8, 0], mu[0], sd[0]).sum()
        + norm.logpdf(x[8:, 1], mu[1], sd[1]).sum()
    )


def _direct(z0: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Maximise the log-likelihood directly (BFGS on mean, log-SDs, atanh of the correlation)."""

    def unpack(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s1, s2, r = math.exp(t[2]), math.exp(t[3]), math.tanh(t[4])
        return t[:2], np.array([[s1 * s1, r * s1 * s2], [r * s1 * s2, s2 * s2]])

    opt = minimize(lambda t: -_loglik(*unpack(t)), [0.1, -0.1, 0.5, 0.5, z0], method="BFGS", options={"gtol": 1e-10})
    mu, cov = unpack(opt.x)
    return -float(opt.fun), mu, cov


@pytest.fixture(scope="module")
def murray() -> imputer.Dispersion:
    return imputer.disperse(MURRAY, starts=8, seed=1)


def test_murray_engine_start_ends_at_the_saddle_point(murray: imputer.Dispersion) -> None:
    # the pairwise-complete correlation of the four complete rows is 0: EM stays on rho = 0
    cov1 = murray.covs[1].to_numpy()
    np.testing.assert_allclose(cov1, 2.5 * np.eye(2), atol=1e-9)
    run1 = murray.runs.loc[1]
    assert run1["loglik"] == pytest.approx(_loglik(np.zeros(2), 2.5 * np.eye(2)), abs=1e-9)
    assert run1["point"] == 3 and run1["converged"]
    assert murray.runs.loc[1, "start"] == "engine"


@pytest.mark.parametrize("z0", [-1.0, 1.0])
def test_murray_best_run_is_the_direct_maximum(murray: imputer.Dispersion, z0: float) -> None:
    obj, mu, cov = _direct(z0)
    assert obj == pytest.approx(-29.97428641046502, abs=1e-9)
    best = murray.runs.loc[murray.best]
    assert best["objective"] == pytest.approx(obj, abs=1e-9)
    # the two maxima differ in the sign of the correlation only
    np.testing.assert_allclose(np.abs(murray.cov.to_numpy()), np.abs(cov), atol=1e-6)
    np.testing.assert_allclose(murray.cov.to_numpy(), [[8 / 3, -4 / 3], [-4 / 3, 8 / 3]] if murray.cov.iloc[0, 1] < 0
                               else [[8 / 3, 4 / 3], [4 / 3, 8 / 3]], atol=1e-7)
    np.testing.assert_allclose(murray.mean.to_numpy(), mu, atol=1e-6)


def test_murray_three_points_found(murray: imputer.Dispersion) -> None:
    runs = murray.runs
    assert murray.n_points == 3 and not murray.unique
    assert set(runs["point"]) == {1, 2, 3}
    c12 = {p: murray.covs[r].iloc[0, 1] for r, p in runs["point"].items()}
    assert abs(c12[3]) < 1e-12 and c12[1] == pytest.approx(-c12[2], abs=1e-7) and abs(c12[1]) > 1.3
    # both maxima have the same objective; the saddle is 0.0591 below
    maxima = runs[runs["point"] != 3]
    assert maxima["gap"].max() < 1e-10
    assert runs.loc[1, "gap"] == pytest.approx(-29.97428641046502 + 30.033342386268007, abs=1e-9)
    # distances: 1/2 in correlation from the saddle (sigma 8/3 vs 5/2: 1/6 / (8/3)), 1 between the maxima
    assert runs.loc[1, "distance"] == pytest.approx(0.5, abs=1e-6)
    assert maxima.loc[maxima["point"] == 2, "distance"].to_numpy() == pytest.approx(1.0, abs=1e-6)
    assert "3 distinct end points; the engine's own start (run 1) ended below the best" in murray.summary()


@pytest.mark.parametrize("around", ["start", "estimate"])
def test_murray_both_kinds_of_start_find_both_maxima(around: str) -> None:
    d = imputer.disperse(MURRAY, starts=8, seed=1, around=around)
    assert d.n_points == 3 and d.around == around
    assert d.runs.loc[1, "point"] == 3  # the saddle, only where the engine's own start went
    assert (d.runs.loc[2:, "point"] != 3).all()
    assert sorted({round(float(c.iloc[0, 1]), 6) for c in d.covs.values()}) == [-1.333333, 0.0, 1.333333]


@pytest.mark.parametrize("around", ["start", "estimate"])
def test_starts_are_drawn_around_what_was_asked(around: str, air: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    from imputer.diagnostics import dispersion

    centres = []
    real = dispersion.dispersed_start

    def spy(mu: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        centres.append((mu.copy(), sigma.copy()))
        return real(mu, sigma, rng)

    monkeypatch.setattr(dispersion, "dispersed_start", spy)
    d = imputer.disperse(air, ["Ozone", "Solar.R", "Wind", "Temp"], starts=3, seed=0, around=around)
    assert len(centres) == 2
    mu, sigma = centres[0]
    if around == "start":  # the engine's start: zero mean, a correlation matrix (standardised units)
        assert not mu.any() and np.array_equal(np.diag(sigma), np.ones(4))
    else:  # run 1's estimate, standardised: back in original units it is run 1's
        sd = np.sqrt(np.diag(d.covs[1].to_numpy()) / np.diag(sigma))
        np.testing.assert_allclose(np.outer(sd, sd) * sigma, d.covs[1].to_numpy(), rtol=1e-12)
        assert mu.any()
    assert all(np.array_equal(c[0], mu) for c in centres)


def test_histories_never_decrease(murray: imputer.Dispersion) -> None:
    for run, h in murray.histories.items():
        assert np.all(np.diff(h) >= -1e-12 * max(1.0, abs(h[-1]))), run
        assert h[-1] == pytest.approx(murray.runs.loc[run, "objective"], abs=1e-9)


@pytest.fixture(scope="module")
def air() -> pd.DataFrame:
    return pd.read_csv(DATA / "airquality.csv")


@pytest.mark.parametrize(("ridge", "prior"), [(0.0, "ridge"), (5.0, "ridge"), (5.0, "amelia")])
def test_unimodal_runs_agree_and_run_one_is_impute(air: pd.DataFrame, ridge: float, prior: str) -> None:
    cols = ["Ozone", "Solar.R", "Wind", "Temp"]
    before = air.copy()
    d = imputer.disperse(air, cols, starts=4, seed=3, ridge=ridge, prior=prior, tol=1e-10)
    pd.testing.assert_frame_equal(air, before)
    assert d.unique and d.n_points == 1
    assert (d.runs["distance"] < 1e-7).all() and d.runs["maximum"].all()
    ref = imputer.impute(air[cols], ridge=ridge, prior=prior, tol=1e-10)
    pd.testing.assert_series_equal(d.means.loc[1], ref.mean, check_names=False)
    pd.testing.assert_frame_equal(d.covs[1], ref.cov)
    assert d.runs.loc[1, "loglik"] == ref.loglik
    assert d.runs.loc[1, "n_evals"] == ref.n_evals
    np.testing.assert_array_equal(d.histories[1], ref.loglik_history)
    assert "every run reached the same point" in d.summary()
    assert d.passthrough == ("Month", "Day") and "not modelled:" in d.summary() and "2 (Month, Day)" in d.summary()
    assert d.to_dict()["passthrough"] == ["Month", "Day"]


def test_seed_reproduces_and_differs(air: pd.DataFrame) -> None:
    a = imputer.disperse(air, starts=3, seed=11)
    assert a == imputer.disperse(air, starts=3, seed=11)
    b = imputer.disperse(air, starts=3, seed=12)
    assert not np.array_equal(a.histories[2], b.histories[2])
    np.testing.assert_array_equal(a.histories[1], b.histories[1])  # the engine's own start


def test_seed_none_is_recorded(air: pd.DataFrame) -> None:
    a = imputer.disperse(air, starts=2)
    assert isinstance(a.seed, int) and a.seed >= 0
    assert imputer.disperse(air, starts=2, seed=a.seed) == a


def test_unconverged_runs_warn_and_get_point_zero() -> None:
    with pytest.warns(ConvergenceWarning, match=r"run\(s\) 1, 2, 3 did not converge within max_iter=1"):
        d = imputer.disperse(MURRAY.assign(x3=np.arange(12.0) ** 1.5), starts=3, seed=0, max_iter=1)
    assert d.n_points == 0 and not d.unique
    assert (d.runs["point"] == 0).all()
    assert "no run converged (see stop_reason: raise max_iter or max_time)" in d.summary()


def test_results_are_read_only(murray: imputer.Dispersion) -> None:
    runs = murray.runs
    runs.loc[1, "objective"] = 0.0
    assert murray.runs.loc[1, "objective"] != 0.0
    with pytest.raises(ValueError, match="read-only"):
        murray.histories[1][0] = 0.0
    with pytest.raises(TypeError):
        murray.covs[9] = murray.cov  # type: ignore[index]


def test_to_dict_is_strict_json(murray: imputer.Dispersion) -> None:
    out = json.loads(json.dumps(murray.to_dict(), allow_nan=False))
    assert out["n_points"] == 3 and out["unique"] is False and out["best"] == murray.best
    assert [r["run"] for r in out["runs"]] == list(range(1, 9))
    assert out["runs"][0]["start"] == "engine" and out["runs"][0]["point"] == 3
    assert out["mean"] == pytest.approx(dict(murray.mean))
    assert np.array(out["cov"]["data"]) == pytest.approx(murray.cov.to_numpy())
    assert out["histories"]["1"] == pytest.approx(list(murray.histories[1]))
    assert out["seed"] == 1 and out["columns"] == ["x1", "x2"] and out["around"] == "start"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"starts": 1}, ImputerValueError, r"starts must be >= 2, got 1"),
        ({"starts": 2.5}, ImputerTypeError, r"starts must be an integer"),
        ({"starts": True}, ImputerTypeError, r"starts must be an integer"),
        ({"atol": 0.0}, ImputerValueError, r"atol must be a finite number > 0"),
        ({"atol": math.inf}, ImputerValueError, r"atol must be a finite number > 0"),
        ({"seed": -1}, ImputerValueError, r"seed must be a non-negative integer, got -1"),
        ({"seed": "1"}, ImputerTypeError, r"seed must be None or a non-negative integer, got str"),
        ({"tol": 0.0}, ImputerValueError, r"tol must be a finite number > 0"),
        ({"ridge": -1.0}, ImputerValueError, r"ridge must be"),
        ({"prior": "flat"}, ImputerValueError, r"prior must be one of"),
        ({"around": "mode"}, ImputerValueError, r"around must be one of \['start', 'estimate'\], got 'mode'"),
        ({"columns": ["x1", "nope"]}, ImputerValueError, r"nope"),
        ({"n_jobs": 0}, ImputerValueError, r"n_jobs must be a positive integer or -1 \(one per CPU\), got 0"),
        ({"n_jobs": -2}, ImputerValueError, r"n_jobs must be a positive integer or -1 \(one per CPU\), got -2"),
        ({"n_jobs": 1.5}, ImputerTypeError, r"n_jobs must be an integer, got float"),
        ({"n_jobs": True}, ImputerTypeError, r"n_jobs must be an integer, got bool"),
        ({"n_jobs": 2, "callback": lambda i, p: None}, ImputerTypeError,
         r"callback: available with n_jobs=1 only"),
    ],
)
def test_bad_options_name_the_option(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        imputer.disperse(MURRAY, **kwargs)


def test_wide_table_needs_a_ridge() -> None:
    wide = pd.DataFrame(np.arange(12.0).reshape(3, 4) ** 1.3)
    with pytest.raises(ImputerValueError, match="ridge"):
        imputer.disperse(wide)


@pytest.mark.parametrize(
    ("objective", "converged", "dist", "expected"),
    [
        # two maxima of equal height and a lower point
        ([1.0, 1.0, 0.5], [True, True, True], [[0, 2, 1], [2, 0, 1], [1, 1, 0]], [1, 2, 3]),
        # runs within atol of the best join it whatever their order
        ([0.9, 1.0, 0.9999], [True, True, True], [[0, 1, 1], [1, 0, 1e-6], [1, 1e-6, 0]], [2, 1, 1]),
        # an unconverged run gets 0 and opens no point
        ([2.0, 1.0, 1.0], [False, True, True], [[0, 1, 1], [1, 0, 0], [1, 0, 0]], [0, 1, 1]),
        ([1.0, 1.0], [False, False], [[0, 0], [0, 0]], [0, 0]),
    ],
)
def test_group_points(objective: list, converged: list, dist: list, expected: list) -> None:
    got = group_points(np.array(objective), np.array(converged), np.array(dist, dtype=float), 1e-4)
    assert got.tolist() == expected


def test_sd_distance_is_in_the_reference_units() -> None:
    ref = np.array([[4.0, 1.0], [1.0, 9.0]])
    assert sd_distance(np.array([0.2, 0.0]), ref, np.zeros(2), ref) == pytest.approx(0.1)
    other = ref.copy()
    other[0, 1] = other[1, 0] = 1.6
    assert sd_distance(np.zeros(2), other, np.zeros(2), ref) == pytest.approx(0.1)


@pytest.mark.parametrize("p", [2, 7, 40])
def test_dispersed_start_scatter_and_floor(p: int) -> None:
    rng = np.random.default_rng(p)
    mu, sigma = np.zeros(p), np.eye(p)
    k = max(math.ceil(2.5 * p), p + 2)
    devs = []
    for _ in range(20):
        m, s = dispersed_start(mu, sigma, rng)
        sd = np.sqrt(np.diag(s))
        corr = s / np.outer(sd, sd)
        assert np.linalg.eigvalsh(corr)[0] >= 0.01 - 1e-12
        devs.append(np.abs(corr[np.triu_indices(p, 1)]).mean())
    # off-diagonal sample correlations of k independent draws scatter by about 1/sqrt(k)
    assert 0.4 / math.sqrt(k) < np.mean(devs) < 1.2 / math.sqrt(k)


def test_dispersed_start_of_a_singular_estimate_is_positive_definite() -> None:
    v = np.array([1.0, 2.0, -1.0])
    m, s = dispersed_start(np.zeros(3), np.outer(v, v), np.random.default_rng(0))
    assert np.linalg.eigvalsh(s)[0] > 0


def test_does_not_warn_when_all_converge(murray: imputer.Dispersion) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imputer.disperse(MURRAY, starts=3, seed=2)


def test_progress_callback_and_time_limit_span_the_runs(air: pd.DataFrame) -> None:
    seen: list[imputer.Progress] = []
    d = imputer.disperse(air, starts=3, seed=0, callback=lambda i, state: seen.append(state))
    assert [s.iteration for s in seen] == list(range(1, len(seen) + 1))  # numbered across the runs
    assert sum(math.isnan(s.change) for s in seen) == 3  # one first iterate per run
    assert seen[-1].n_evals == d.runs["n_evals"].sum()
    assert seen[-1].objective == pytest.approx(d.runs.loc[3, "objective"], abs=1e-8)  # original units

    seen2: list[imputer.Progress] = []

    def stop_in_run_two(i: int, state: imputer.Progress) -> bool:
        seen2.append(state)
        return sum(math.isnan(s.change) for s in seen2) >= 2  # at run 2's first iterate
    with pytest.warns(ConvergenceWarning) as caught:
        stopped = imputer.disperse(air, starts=3, seed=0, callback=stop_in_run_two)
    assert stopped.runs["stop_reason"].tolist() == ["converged", "stopped", "stopped"]
    assert stopped.runs["point"].tolist() == [1, 0, 0]
    assert "verdict:" in stopped.summary() and (
        "one end point among the converged runs; 2 run(s) did not converge" in stopped.summary())
    text = [str(w.message) for w in caught]
    assert "disperse: run(s) 2, 3 did not converge (stopped by the callback; point 0 in runs)" in text
    assert any(t.startswith("EM stopped after") and "the callback asked to stop" in t for t in text)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_max_time_stops_every_run_left(n_jobs: int) -> None:
    with pytest.warns(ConvergenceWarning) as caught:
        d = imputer.disperse(MURRAY.assign(x3=np.arange(12.0) ** 1.5), starts=2, seed=0, max_time=1e-9, n_jobs=n_jobs)
    assert d.runs["stop_reason"].tolist() == ["max_time", "max_time"]
    text = [str(w.message) for w in caught]
    assert "disperse: run(s) 1, 2 did not converge (time limit (max_time) reached; point 0 in runs)" in text
    if n_jobs == 1:  # the monitor's own line counts iterates across the runs, which other processes ran
        assert any("the time limit max_time=1e-09 s was reached" in t for t in text)


@pytest.mark.parametrize("around", ["start", "estimate"])
def test_runs_in_processes_are_the_same_runs(around: str) -> None:
    """n_jobs=2 runs each start exactly as n_jobs=1 does (one BLAS thread each): the same result."""
    one = imputer.disperse(MURRAY, starts=6, seed=1, around=around)
    two = imputer.disperse(MURRAY, starts=6, seed=1, around=around, n_jobs=2)
    assert one == two and two.n_points == 3
    pd.testing.assert_frame_equal(one.runs, two.runs)
    pd.testing.assert_frame_equal(one.means, two.means)


def test_spawned_processes_give_the_same_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The start method of macOS and Windows (the processes import the package and get the data pickled)."""
    from imputer.diagnostics import dispersion

    monkeypatch.setattr(dispersion, "_start_method", lambda: "spawn")
    one = imputer.disperse(MURRAY, starts=3, seed=1)
    assert imputer.disperse(MURRAY, starts=3, seed=1, n_jobs=2) == one


def test_runs_in_processes_show_progress_by_run(capsys: pytest.CaptureFixture[str]) -> None:
    d = imputer.disperse(MURRAY, starts=3, seed=1, n_jobs=-1, progress=True)
    assert d.runs.shape[0] == 3
    assert "disperse" in capsys.readouterr().err


def test_an_infeasible_run_in_a_process_is_named() -> None:
    with pytest.raises(ImputerValueError, match=r"^ridge=1e\+308: run 1 found no valid estimate"):
        imputer.disperse(MURRAY, starts=2, seed=0, ridge=1e308, n_jobs=2)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"progress": "yes"}, ImputerTypeError, "progress must be a bool"),
    ({"callback": 3}, ImputerTypeError, "callback must be callable"),
    ({"max_time": 0}, ImputerValueError, "max_time must be a finite number of seconds > 0"),
])
def test_monitor_options_are_checked(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        imputer.disperse(MURRAY, **kwargs)


def test_maximum_tells_the_saddle_from_the_maxima(murray: imputer.Dispersion) -> None:
    # at the saddle the observed information has a negative eigenvalue; at the maxima it is positive definite
    runs = murray.runs
    assert runs["maximum"].dtype == "boolean"
    assert runs["maximum"].tolist() == [p != 3 for p in runs["point"]]
    assert "run(s) 1 ended where the observed information is not positive definite (a saddle point" in murray.summary()


def test_maximum_not_checked_without_convergence_or_above_the_parameter_limit() -> None:
    with pytest.warns(ConvergenceWarning):
        d = imputer.disperse(MURRAY.assign(x3=np.arange(12.0) ** 1.5), starts=2, seed=0, max_iter=1)
    assert d.runs["maximum"].isna().all()
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.standard_normal((12, 90)))
    wide[wide > 1.5] = np.nan
    d = imputer.disperse(wide, starts=2, seed=0, ridge=5.0)  # 90 columns: 4,185 parameters
    assert d.runs["converged"].all() and d.runs["maximum"].isna().all()
    assert json.loads(json.dumps(d.to_dict(), allow_nan=False))["runs"][0]["maximum"] is None
