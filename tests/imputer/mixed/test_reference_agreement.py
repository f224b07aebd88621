"""fit_mixed against the independent dense reference (tests/reference/mixed_reml.py).

The reference maximises the REML/ML likelihood directly over log-variances with the
dense ``V`` (no EM, no mixed-model equations), and gets fixed effects, BLUPs, PEVs and
predictions from the closed-form GLS/BLUP formulas. It is itself checked here against
lme4 (``tests/data/lme4``) before it is used as the judge.

Simulated case (fixed seed): 50 individuals with 3 records each (n = 150) and a
VanRaden genomic relationship matrix from 200 simulated markers, crossed with 10 time
points with an AR(1) correlation matrix (rho = 0.7); one covariate; y missing for 20
random records and for every record of two individuals (their predictions come from
K alone). Two kernels: a full-rank K (markers centred with the simulating frequencies)
and a singular K (markers centred with the sample means, rank 49).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.reference.mixed_reml import fit_reference, loglik

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "lme4"

N_IND, N_REC, N_TIME, N_MARKERS = 50, 3, 10, 200
TRUTH = {"g": 2.0, "t": 1.0, "residual": 1.5}
BETA = np.array([3.0, -1.0])


@cache
def simulated(kernel: str) -> tuple[pd.Series, pd.DataFrame, dict, np.ndarray]:
    """y (with NaN), X, ZETA and the boolean mask of missing rows."""
    rng = np.random.default_rng(20261122)
    freq = rng.uniform(0.1, 0.5, size=N_MARKERS)
    M = rng.binomial(2, freq, size=(N_IND, N_MARKERS)).astype(float)
    W = M - (2.0 * freq if kernel == "full-rank" else M.mean(axis=0))
    K1 = W @ W.T / (2.0 * np.sum(freq * (1.0 - freq)))
    K1 = (K1 + K1.T) / 2.0
    lags = np.abs(np.subtract.outer(np.arange(N_TIME), np.arange(N_TIME)))
    K2 = 0.7**lags
    n = N_IND * N_REC
    ind = np.repeat(np.arange(N_IND), N_REC)
    time = rng.integers(0, N_TIME, size=n)
    time[:N_TIME] = np.arange(N_TIME)  # every time point observed
    Z1 = np.eye(N_IND)[ind]
    Z2 = np.eye(N_TIME)[time]
    g = np.linalg.cholesky(K1 + 1e-10 * np.eye(N_IND)) @ rng.standard_normal(N_IND)
    t = np.linalg.cholesky(K2) @ rng.standard_normal(N_TIME)
    x = rng.standard_normal(n)
    X = pd.DataFrame({"(Intercept)": np.ones(n), "x": x})
    y = (
        X.to_numpy() @ BETA
        + np.sqrt(TRUTH["g"]) * Z1 @ g
        + np.sqrt(TRUTH["t"]) * Z2 @ t
        + rng.normal(0.0, np.sqrt(TRUTH["residual"]), size=n)
    )
    missing = np.zeros(n, dtype=bool)
    missing[rng.choice(np.arange(N_TIME, n), size=20, replace=False)] = True
    missing[np.isin(ind, [7, 31])] = True  # two individuals never observed
    y[missing] = np.nan
    ind_labels = [f"ind{i:02d}" for i in range(N_IND)]
    time_labels = [f"t{j}" for j in range(N_TIME)]
    zeta = {
        "g": {"Z": pd.DataFrame(Z1, columns=ind_labels), "K": K1},
        "t": {"Z": pd.DataFrame(Z2, columns=time_labels), "K": K2},
    }
    return pd.Series(y, name="y"), X, zeta, missing


def dense(zeta: dict) -> dict:
    return {k: (np.asarray(v["Z"], dtype=float), np.asarray(v["K"], dtype=float)) for k, v in zeta.items()}


@cache
def reference(kernel: str, method: str):
    y, X, zeta, _ = simulated(kernel)
    return fit_reference(y.to_numpy(), X.to_numpy(), dense(zeta), method=method)


@cache
def engine(kernel: str, method: str):
    y, X, zeta, _ = simulated(kernel)
    return imputer.fit_mixed(y, X, zeta, method=method)


CASES = [(k, m) for k in ("full-rank", "singular") for m in ("REML", "ML")]


def test_simulated_kernels_are_as_described() -> None:
    for kernel, rank in (("full-rank", N_IND), ("singular", N_IND - 1)):
        K1 = simulated(kernel)[2]["g"]["K"]
        w = np.linalg.eigvalsh(K1)
        assert w.min() > -1e-10 * w.max()
        assert int(np.sum(w > 1e-10 * w.max())) == rank
        assert not np.allclose(K1, np.diag(np.diag(K1)))  # genuinely non-identity


@pytest.mark.parametrize(("kernel", "method"), CASES)
def test_reference_is_at_an_interior_optimum(kernel: str, method: str) -> None:
    ref = reference(kernel, method)
    assert ref.boundary == ()
    assert ref.grad_norm < 1e-9
    assert np.all(ref.var_comp > 0.05)


@pytest.mark.parametrize(("kernel", "method"), CASES)
def test_variance_components_and_likelihood(kernel: str, method: str) -> None:
    ref = reference(kernel, method)
    res = engine(kernel, method)
    assert res.converged
    assert list(res.var_comp.index) == ["g", "t", "residual"]
    np.testing.assert_allclose(res.var_comp.to_numpy(), ref.var_comp, rtol=1e-5)
    assert res.loglik >= ref.loglik - 1e-9 * abs(ref.loglik)
    assert res.loglik == pytest.approx(ref.loglik, rel=1e-8)
    assert res.aic == pytest.approx(ref.aic, rel=1e-8)
    assert res.bic == pytest.approx(ref.bic, rel=1e-8)


@pytest.mark.parametrize(("kernel", "method"), CASES)
def test_fixed_effects(kernel: str, method: str) -> None:
    ref = reference(kernel, method)
    res = engine(kernel, method)
    assert list(res.beta.index) == ["(Intercept)", "x"]
    se = np.sqrt(np.diag(ref.var_beta))
    diff = np.abs(res.beta.to_numpy() - ref.beta)
    assert np.all(diff <= 1e-5 * se), (diff, se)
    np.testing.assert_allclose(np.asarray(res.var_beta, dtype=float), ref.var_beta, rtol=1e-4)


@pytest.mark.parametrize(("kernel", "method"), CASES)
def test_blups_and_pev(kernel: str, method: str) -> None:
    ref = reference(kernel, method)
    res = engine(kernel, method)
    _, _, zeta, _ = simulated(kernel)
    for name in ("g", "t"):
        got = res.u[name]
        assert list(got.index) == list(zeta[name]["Z"].columns)
        scale = float(np.max(np.abs(ref.u[name])))
        np.testing.assert_allclose(got.to_numpy(), ref.u[name], rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(res.pev[name].to_numpy(), ref.pev[name], rtol=1e-4)


@pytest.mark.parametrize(("kernel", "method"), CASES)
def test_predictions_of_missing_rows(kernel: str, method: str) -> None:
    y, _, _, missing = simulated(kernel)
    ref = reference(kernel, method)
    res = engine(kernel, method)
    fitted = np.asarray(res.fitted, dtype=float)
    sd = float(np.nanstd(y.to_numpy()))
    np.testing.assert_allclose(fitted, ref.fitted, rtol=0, atol=1e-5 * sd)
    completed = np.asarray(res.completed, dtype=float)
    # observed values come back bit-for-bit; missing ones are the predictions
    assert np.array_equal(completed[~missing], y.to_numpy()[~missing])
    np.testing.assert_allclose(completed[missing], ref.fitted[missing], rtol=0, atol=1e-5 * sd)
    assert not np.any(np.isnan(completed))



@pytest.mark.parametrize("method", ["REML", "ML"])
def test_frame_entry_point_with_kernels(method: str) -> None:
    """fit_mixed_frame with kernels indexed by level gives the reference's answer."""
    y, X, zeta, missing = simulated("full-rank")
    ind = zeta["g"]["Z"].idxmax(axis=1)
    time = zeta["t"]["Z"].idxmax(axis=1)
    data = pd.DataFrame({"y": y, "x": X["x"], "ind": ind, "time": time})
    kernels = {
        "ind": pd.DataFrame(zeta["g"]["K"], index=zeta["g"]["Z"].columns, columns=zeta["g"]["Z"].columns),
        "time": pd.DataFrame(zeta["t"]["K"], index=zeta["t"]["Z"].columns, columns=zeta["t"]["Z"].columns),
    }
    res = imputer.fit_mixed_frame(data, "y", fixed=["x"], random=["ind", "time"], kernels=kernels, method=method)
    ref = reference("full-rank", method)
    np.testing.assert_allclose(res.var_comp.to_numpy(), ref.var_comp, rtol=1e-5)
    u = res.u["ind"].loc[zeta["g"]["Z"].columns]
    np.testing.assert_allclose(u.to_numpy(), ref.u["g"], rtol=0, atol=1e-5 * float(np.max(np.abs(ref.u["g"]))))
    sd = float(np.nanstd(y.to_numpy()))
    np.testing.assert_allclose(np.asarray(res.completed, dtype=float)[missing], ref.fitted[missing], rtol=0, atol=1e-5 * sd)


# ---------------------------------------------------------------------------------------
# The reference itself reproduces lme4 (so agreement with it means agreement with lme4).
LME4_MODELS = {
    "dyestuff": ("dyestuff.csv", "Yield", [], ["Batch"]),
    "dyestuff2": ("lme4/dyestuff2.csv", "Yield", [], ["Batch"]),
    "penicillin": ("penicillin.csv", "diameter", [], ["plate", "sample"]),
    "pastes": ("lme4/pastes.csv", "strength", [], ["batch", "batch:cask"]),
    "sleepstudy": ("sleepstudy.csv", "Reaction", ["Days"], ["Subject"]),
}


def lme4_design(name: str):
    file, yname, fixed, random = LME4_MODELS[name]
    data = pd.read_csv(FIXTURES.parent / file, dtype={"Subject": str})
    X = np.column_stack([np.ones(len(data))] + [data[c].to_numpy(float) for c in fixed])
    rnd = {}
    for term in random:
        f = data[term.split(":")[0]].astype(str)
        for part in term.split(":")[1:]:
            f = f + ":" + data[part].astype(str)
        codes, _ = pd.factorize(f, sort=True)
        rnd[term] = (np.eye(codes.max() + 1)[codes], None)
    return data[yname].to_numpy(float), X, rnd


@pytest.mark.parametrize("name", sorted(LME4_MODELS))
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_reference_reproduces_lme4(name: str, method: str) -> None:
    fix = json.loads((FIXTURES / f"{name}.json").read_text())[method]
    y, X, rnd = lme4_design(name)
    lme4_vc = [fix["var_comp"][t] for t in LME4_MODELS[name][3]] + [fix["var_comp"]["Residual"]]
    # the likelihood formula (with lme4's constants) at lme4's own estimates
    assert loglik(np.array(lme4_vc), y, X, rnd, method=method) == pytest.approx(fix["loglik"], rel=1e-10)
    ref = fit_reference(y, X, rnd, method=method)
    assert ref.loglik >= fix["loglik"] - 1e-10 * abs(fix["loglik"])
    resid = fix["var_comp"]["Residual"]
    for got, want in zip(ref.var_comp, lme4_vc):
        assert abs(got - want) <= 1e-6 * max(want, 1e-3 * resid)
    np.testing.assert_allclose(ref.beta, list(fix["fixef"].values()), rtol=1e-6)
    assert ref.aic == pytest.approx(fix["aic"], rel=1e-10)
    assert ref.bic == pytest.approx(fix["bic"], rel=1e-10)
