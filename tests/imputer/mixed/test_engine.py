"""Properties of the EM-REML/ML engine that hold whatever the data.

* the same model given as dense, sparse or DataFrame Z gives the same fit;
* the log-likelihood history never decreases; SQUAREM and plain EM reach the same
  optimum (including a zero-boundary optimum), SQUAREM with fewer EM evaluations;
* the reported log-likelihood is the REML/ML formula with the dense V (written out
  here with numpy), and REML and ML agree with the closed forms of a model with no
  random effect (s2_REML = RSS/(n-p), s2_ML = RSS/n);
* the Henderson and spectral (EMMA) engines agree; a singular K equals the model with
  Z L and identity K; missing y are predicted by x'b + z'u; to_dict is JSON.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from imputer import ConvergenceWarning, fit_mixed, fit_mixed_frame
from imputer.mixed._validate import build_problem
from imputer.mixed.api import fit_problem
from tests.reference.mixed_reml import loglik as reference_loglik

DATA = Path(__file__).resolve().parents[2] / "data"
LOG2PI = np.log(2 * np.pi)

FRAMES = {
    "dyestuff": ("dyestuff.csv", "Yield", ["Batch"]),
    "dyestuff2": ("lme4/dyestuff2.csv", "Yield", ["Batch"]),
    "penicillin": ("penicillin.csv", "diameter", ["plate", "sample"]),
    "pastes": ("lme4/pastes.csv", "strength", ["batch", "batch:cask"]),
}


def frame(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / FRAMES[name][0])


def fit_frame(name: str, **kw):
    _, resp, random = FRAMES[name]
    return fit_mixed_frame(frame(name), resp, random=random, **kw)


def kernel_data(n: int = 40, q: int = 30, seed: int = 1, rank: int | None = None):
    """y (with 5 missing), X, and two random effects: a kernel on q levels and a factor."""
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(q, rank or 2 * q))
    K = G @ G.T / G.shape[1]
    Z1 = np.zeros((n, q))
    Z1[np.arange(n), rng.integers(0, q, size=n)] = 1.0
    Z2 = np.zeros((n, 5))
    Z2[np.arange(n), np.arange(n) % 5] = 1.0
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    u1 = np.linalg.cholesky(K + 1e-9 * np.eye(q)) @ rng.normal(size=q)
    y = X @ [1.0, 0.5] + Z1 @ u1 * 1.2 + Z2 @ rng.normal(size=5) * 0.8 + rng.normal(size=n)
    y[[2, 7, 11, 19, 30]] = np.nan
    return y, X, Z1, K, Z2


def dense_loglik(y, X, Zs, Ks, var_comp, method):
    """REML/ML log-likelihood with the dense V (:func:`tests.reference.mixed_reml.loglik`)."""
    random = {f"u{i}": (Z, K) for i, (Z, K) in enumerate(zip(Zs, Ks))}
    return reference_loglik(np.asarray(var_comp, dtype=float), y, X, random, method=method)


# ------------------------------------------------------------------------ input forms
def test_dense_sparse_and_dataframe_z_give_identical_fits() -> None:
    df = frame("penicillin")
    zs = {}
    for col in ("plate", "sample"):
        levels = sorted(df[col].unique())
        zs[col] = pd.DataFrame((df[col].to_numpy()[:, None] == np.array(levels)).astype(float), columns=levels)
    fits = [
        fit_mixed(df["diameter"], None, {k: {"Z": z} for k, z in zs.items()}),
        fit_mixed(df["diameter"].to_numpy(), None, {k: {"Z": z.to_numpy()} for k, z in zs.items()}),
        fit_mixed(df["diameter"], None, {k: {"Z": sp.csc_matrix(z.to_numpy())} for k, z in zs.items()}),
    ]
    for other in fits[1:]:
        np.testing.assert_array_equal(fits[0].var_comp.to_numpy(), other.var_comp.to_numpy())
        np.testing.assert_array_equal(fits[0].fitted.to_numpy(), other.fitted.to_numpy())
        assert fits[0].loglik == other.loglik
        for k in zs:
            np.testing.assert_array_equal(fits[0].u[k].to_numpy(), other.u[k].to_numpy())
    assert list(fits[0].u["plate"].index) == sorted(df["plate"].unique())
    assert list(fits[1].u["plate"].index) == list(range(24))  # unlabelled Z: positions


def test_list_zeta_gets_default_names_and_x_gets_default_labels() -> None:
    y, X, Z1, K, Z2 = kernel_data()
    res = fit_mixed(y, X, [{"Z": Z1, "K": K}, {"Z": Z2}])
    assert list(res.var_comp.index) == ["u1", "u2", "residual"]
    assert list(res.beta.index) == ["x1", "x2"]
    assert fit_mixed(y, None, [{"Z": Z2}]).beta.index.tolist() == ["(Intercept)"]


# ------------------------------------------------------------------------ EM behaviour
@pytest.mark.parametrize("name", sorted(FRAMES))
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_history_monotone_and_acceleration_reaches_the_same_optimum(name: str, method: str) -> None:
    fast = fit_frame(name, method=method)
    slow = fit_frame(name, method=method, accelerate=False)
    for res in (fast, slow):
        assert res.converged
        h = res.loglik_history
        assert np.all(np.diff(h) >= -1e-12 * np.abs(h[1:])), "log-likelihood decreased"
        assert h[-1] == pytest.approx(res.loglik, rel=1e-12)
    np.testing.assert_allclose(fast.var_comp, slow.var_comp, rtol=1e-6, atol=1e-9 * slow.var_comp.sum())
    assert fast.loglik == pytest.approx(slow.loglik, rel=1e-10)
    assert fast.boundary == slow.boundary
    assert fast.n_evals <= slow.n_evals


def test_zero_boundary_is_reached_and_reported() -> None:
    for accelerate in (True, False):
        res = fit_frame("dyestuff2", accelerate=accelerate)
        assert res.boundary == ("Batch",)
        assert res.var_comp["Batch"] == 0.0
        assert np.all(res.u["Batch"] == 0.0) and np.all(res.pev["Batch"] == 0.0)
        # on the boundary the model is y = b + e: REML s2 is the sample variance
        y = frame("dyestuff2")["Yield"]
        assert res.var_comp["residual"] == pytest.approx(y.var(ddof=1), rel=1e-12)
        assert res.beta["(Intercept)"] == pytest.approx(y.mean(), rel=1e-12)


def test_small_interior_component_is_not_forced_to_zero() -> None:
    # an interior optimum with a small share: the boundary probe must reject s2 = 0
    rng = np.random.default_rng(4)
    n, q = 400, 40
    g = np.repeat(np.arange(q), n // q)
    y = rng.normal(size=q)[g] * np.sqrt(0.06) + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "g": g})
    res = fit_mixed_frame(df, "y", random=["g"], init={"g": 1e-5, "residual": 1.0})
    assert res.boundary == ()
    ref = fit_mixed_frame(df, "y", random=["g"])
    assert res.var_comp["g"] > 0
    np.testing.assert_allclose(res.var_comp, ref.var_comp, rtol=1e-6)


def test_init_as_series_is_read_by_label() -> None:
    init = pd.Series({"residual": 3000.0, "Batch": 2000.0})  # not in component order
    with pytest.warns(ConvergenceWarning):  # one EM step: the start shows in the result
        res = fit_frame("dyestuff", init=init, max_iter=1, accelerate=False)
    with pytest.warns(ConvergenceWarning):
        ref = fit_frame("dyestuff", init={"Batch": 2000.0, "residual": 3000.0}, max_iter=1, accelerate=False)
    pd.testing.assert_series_equal(res.var_comp, ref.var_comp)


@pytest.mark.parametrize("init", [[1e-3, 100.0], [50.0, 0.01], {"Batch": 2000.0, "residual": 3000.0}])
def test_optimum_does_not_depend_on_init(init) -> None:
    base = fit_frame("dyestuff")
    res = fit_frame("dyestuff", init=init)
    np.testing.assert_allclose(res.var_comp, base.var_comp, rtol=1e-7)


# ------------------------------------------------------------------------ likelihood
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_loglik_is_the_dense_formula(method: str) -> None:
    y, X, Z1, K, Z2 = kernel_data()
    res = fit_mixed(y, X, {"k": {"Z": Z1, "K": K}, "f": {"Z": Z2}}, method=method)
    vc = res.var_comp.to_numpy()
    assert res.loglik == pytest.approx(dense_loglik(y, X, [Z1, Z2], [K, np.eye(5)], vc, method), rel=1e-10)
    # and it is a maximum: nudging any component lowers the likelihood
    for i in range(3):
        for f in (0.99, 1.01):
            v = vc.copy()
            v[i] *= f
            assert dense_loglik(y, X, [Z1, Z2], [K, np.eye(5)], v, method) < res.loglik
    d = 2 + 3
    assert res.aic == pytest.approx(-2 * res.loglik + 2 * d, rel=1e-14)
    assert res.bic == pytest.approx(-2 * res.loglik + d * np.log(res.n_obs), rel=1e-14)


def test_reml_and_ml_without_random_effects_are_the_closed_forms() -> None:
    y, X, *_ = kernel_data()
    obs = ~np.isnan(y)
    b, *_ = np.linalg.lstsq(X[obs], y[obs], rcond=None)
    rss = float(np.sum((y[obs] - X[obs] @ b) ** 2))
    n, p = int(obs.sum()), X.shape[1]
    reml = fit_mixed(y, X)
    ml = fit_mixed(y, X, method="ML")
    assert reml.var_comp["residual"] == pytest.approx(rss / (n - p), rel=1e-9)
    assert ml.var_comp["residual"] == pytest.approx(rss / n, rel=1e-9)
    np.testing.assert_allclose(reml.beta, b, rtol=1e-10)
    s2 = rss / n
    assert ml.loglik == pytest.approx(-0.5 * n * (LOG2PI + np.log(s2) + 1.0), rel=1e-10)
    s2r = rss / (n - p)
    # log|V| + log|X'V^-1 X| = n log s2 + (log|X'X| - p log s2)
    logdet = np.linalg.slogdet(X[obs].T @ X[obs])[1]
    assert reml.loglik == pytest.approx(-0.5 * ((n - p) * (LOG2PI + np.log(s2r)) + logdet + (n - p)), rel=1e-10)
    np.testing.assert_allclose(reml.var_beta, s2r * np.linalg.inv(X[obs].T @ X[obs]), rtol=1e-8)


# ------------------------------------------------------------------------ engines, kernels
@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("rank", [None, 12])
def test_spectral_and_henderson_engines_agree(method: str, rank: int | None) -> None:
    y, X, Z1, K, _ = kernel_data(rank=rank)
    fits = {
        eng: fit_problem(build_problem(y, X, {"g": {"Z": Z1, "K": K}}, method), method=method, tol=1e-10,
                         max_iter=10_000, init=None, accelerate=True, engine_name=eng)
        for eng in ("mme", "spectral")
    }
    a, b = fits["mme"], fits["spectral"]
    assert (a.engine, b.engine) == ("mme", "spectral")
    np.testing.assert_allclose(a.var_comp, b.var_comp, rtol=1e-7)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-11)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-7)
    np.testing.assert_allclose(a.var_beta, b.var_beta, rtol=1e-6)
    np.testing.assert_allclose(a.u["g"], b.u["g"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.pev["g"], b.pev["g"], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(a.fitted, b.fitted, rtol=1e-7)


def test_engine_is_chosen_by_the_shape_of_the_random_effects() -> None:
    # one dense kernel at least half the size of the data: spectral; an incidence
    # (K = I, ZZ' block-diagonal) or several effects: Henderson (api module docstring)
    y, X, Z1, K, Z2 = kernel_data()
    assert fit_mixed(y, X, {"g": {"Z": Z1, "K": K}}).engine == "spectral"
    assert fit_mixed(y, X, {"g": {"Z": Z1}}).engine == "mme"
    assert fit_mixed(y, X, {"g": {"Z": Z1, "K": K}, "h": {"Z": Z2}}).engine == "mme"


def test_singular_kernel_equals_the_factored_identity_model() -> None:
    y, X, Z1, K, Z2 = kernel_data(rank=8)  # rank(K) = 8 < q = 30
    assert np.linalg.matrix_rank(K) == 8
    res = fit_mixed(y, X, {"k": {"Z": Z1, "K": K}, "f": {"Z": Z2}})
    w, Q = np.linalg.eigh(K)
    L = Q[:, -8:] * np.sqrt(w[-8:])
    alt = fit_mixed(y, X, {"k": {"Z": Z1 @ L}, "f": {"Z": Z2}})
    np.testing.assert_allclose(res.var_comp, alt.var_comp, rtol=1e-7)
    assert res.loglik == pytest.approx(alt.loglik, rel=1e-11)
    np.testing.assert_allclose(res.u["k"], L @ alt.u["k"].to_numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res.fitted, alt.fitted, rtol=1e-8)
    # the BLUP lives in the range of K
    P = L @ np.linalg.pinv(L)
    np.testing.assert_allclose(P @ res.u["k"].to_numpy(), res.u["k"].to_numpy(), atol=1e-10)


def test_missing_y_is_predicted_by_the_blup_formula() -> None:
    y, X, Z1, K, Z2 = kernel_data()
    res = fit_mixed(y, X, {"k": {"Z": Z1, "K": K}, "f": {"Z": Z2}})
    miss = np.isnan(y)
    pred = X @ res.beta.to_numpy() + Z1 @ res.u["k"].to_numpy() + Z2 @ res.u["f"].to_numpy()
    np.testing.assert_allclose(res.fitted.to_numpy(), pred, rtol=1e-12)
    np.testing.assert_array_equal(res.completed.to_numpy()[~miss], y[~miss])
    np.testing.assert_array_equal(res.completed.to_numpy()[miss], res.fitted.to_numpy()[miss])
    assert np.all(np.isnan(res.residuals.to_numpy()[miss]))
    # BLUP u = s2 K Z' P y with the dense REML projection P
    vc = res.var_comp
    obs = ~miss
    Zo1, Zo2, Xo = Z1[obs], Z2[obs], X[obs]
    V = vc["k"] * Zo1 @ K @ Zo1.T + vc["f"] * Zo2 @ Zo2.T + vc["residual"] * np.eye(obs.sum())
    Vi = np.linalg.inv(V)
    P = Vi - Vi @ Xo @ np.linalg.solve(Xo.T @ Vi @ Xo, Xo.T @ Vi)
    np.testing.assert_allclose(res.u["k"], vc["k"] * K @ Zo1.T @ P @ y[obs], rtol=1e-6, atol=1e-10)
    pev = vc["k"] * np.diag(K) - vc["k"] ** 2 * np.diag(K @ Zo1.T @ P @ Zo1 @ K)
    np.testing.assert_allclose(res.pev["k"], pev, rtol=1e-6)


# ------------------------------------------------------------------------ result object
def test_result_is_frozen_and_to_dict_is_json() -> None:
    df = frame("pastes")
    df.loc[4, "strength"] = np.nan
    res = fit_mixed_frame(df, "strength", random=["batch", "batch:cask"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.loglik = 0.0  # type: ignore[misc]
    assert not res.loglik_history.flags.writeable
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert list(d["var_comp"]) == ["batch", "batch:cask", "residual"]
    assert d["residuals"][4] is None and d["completed"][4] == pytest.approx(d["fitted"][4])
    assert d["n_obs"] == 59 and d["n_missing"] == 1 and d["method"] == "REML"
    assert d["var_beta"]["columns"] == ["(Intercept)"]
    assert all(isinstance(k, str) for k in d["u"]["batch:cask"])
    assert d["boundary"] == [] and d["converged"] is True
    assert len(d["loglik_history"]) == len(res.loglik_history)
    dy = fit_frame("dyestuff2").to_dict()
    assert dy["boundary"] == ["Batch"] and dy["var_comp"]["Batch"] == 0.0
    ints = fit_mixed(np.arange(12.0) % 5, None, [{"Z": np.kron(np.eye(3), np.ones((4, 1)))}]).to_dict()
    assert list(ints["u"]["u1"]) == ["0", "1", "2"]


def test_summary_names_components_and_effects() -> None:
    text = fit_frame("pastes").summary()
    for token in ("REML", "batch:cask", "residual", "(Intercept)", "log-likelihood", "AIC"):
        assert token in text


@pytest.mark.parametrize("accelerate", [True, False])
def test_two_components_on_the_boundary(accelerate: bool) -> None:
    # balanced 10 x 8 crossed design, 3 replicates, row and column means removed: both
    # between-group mean squares are 0, so REML puts both components at 0 and the
    # residual variance is the total sum of squares over n - 1.
    rng = np.random.default_rng(8)
    a, b, r = 10, 8, 3
    e = rng.normal(size=(a, b, r))
    cell = e.mean(axis=2, keepdims=True)
    y = e - cell.mean(axis=1, keepdims=True) - cell.mean(axis=0, keepdims=True) + cell.mean()
    df = pd.DataFrame(
        {
            "y": y.ravel() + 5.0,
            "f": np.repeat(np.arange(a), b * r),
            "h": np.tile(np.repeat(np.arange(b), r), a),
        }
    )
    res = fit_mixed_frame(df, "y", random=["f", "h"], accelerate=accelerate)
    assert res.converged
    assert set(res.boundary) == {"f", "h"}
    assert res.var_comp["f"] == 0.0 and res.var_comp["h"] == 0.0
    assert res.var_comp["residual"] == pytest.approx(df["y"].var(ddof=1), rel=1e-10)
    h = res.loglik_history
    assert np.all(np.diff(h) >= -1e-12 * np.abs(h[1:]))


@pytest.mark.parametrize("engine", ["mme", "spectral"])
def test_kernel_component_on_the_boundary_in_both_engines(engine: str) -> None:
    # no genetic signal; with this seed the REML optimum is at s2_g = 0 (checked below
    # with the dense likelihood), where the model is ordinary least squares
    rng = np.random.default_rng(0)
    n = 40
    G = rng.normal(size=(n, 80))
    K = G @ G.T / 80
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [1.0, 2.0] + rng.normal(size=n)
    res = fit_problem(build_problem(y, X, {"g": {"Z": np.eye(n), "K": K}}, "REML"), method="REML", tol=1e-9,
                      max_iter=10_000, init=None, accelerate=True, engine_name=engine)
    assert res.engine == engine and res.converged
    assert res.boundary == ("g",) and res.var_comp["g"] == 0.0
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    rss = float(np.sum((y - X @ b) ** 2))
    assert res.var_comp["residual"] == pytest.approx(rss / (n - 2), rel=1e-9)
    np.testing.assert_allclose(res.beta, b, rtol=1e-9)
    s2e = res.var_comp["residual"]
    at_zero = dense_loglik(y, X, [np.eye(n)], [K], np.array([0.0, s2e]), "REML")
    assert res.loglik == pytest.approx(at_zero, rel=1e-12)
    for eps in (1e-6, 1e-3, 1e-1):  # moving into the interior lowers the likelihood
        inside = max(
            dense_loglik(y, X, [np.eye(n)], [K], np.array([eps * s2e, f * s2e]), "REML")
            for f in np.linspace(0.8, 1.05, 26)
        )
        assert inside < at_zero
