"""Random slopes against a dense direct maximisation (``tests/reference/mixed_slopes.py``).

A model lme4 cannot fit: random intercepts and slopes per group *with a relationship
matrix K between the groups* (``u ~ N(0, K (x) G)``), a crossed scalar term, and missing
responses. The reference writes ``V`` out densely and maximises the (RE)ML likelihood
over Cholesky factors of ``G`` (no EM, no mixed-model equations). Checked: our
log-likelihood is never lower (ties at 1e-9 relative) and equals the reference's
evaluation at our estimate to 1e-10; covariances to 1e-5 on the correlation scale; the
predictions of the missing responses equal ``x'b + z'u`` with ``u = (K (x) G) Z'V^-1 r``
from the dense ``V`` and GLS ``b`` at our estimate (1e-8 relative).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.reference import mixed_slopes as ref


def _data() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    q, m = 10, 6
    A = rng.normal(size=(q, 3))
    K = A @ A.T / 3 + 0.3 * np.eye(q)  # a relationship matrix between the groups
    g = np.repeat([f"g{i}" for i in range(q)], m)
    t = np.tile(np.linspace(-1, 1, m), q)
    G = np.array([[1.0, 0.4], [0.4, 0.5]])
    U = np.linalg.cholesky(np.kron(K, G)) @ rng.normal(size=2 * q)
    b = np.repeat([-1.5, 0.2, 1.4], q * m // 3)  # crossed blocks
    lev = {f"g{i}": i for i in range(q)}
    y = 2.0 + 0.5 * t + np.array([U[2 * lev[v]] + U[2 * lev[v] + 1] * s for v, s in zip(g, t)]) + b
    y = y + rng.normal(scale=0.6, size=q * m)
    df = pd.DataFrame({"y": y, "t": t, "g": g, "blk": np.repeat(["a", "b", "c"], q * m // 3)})
    df.loc[[3, 17, 40], "y"] = np.nan
    names = [f"g{i}" for i in range(q)]
    return df, pd.DataFrame(K, index=names, columns=names)


def _designs(df: pd.DataFrame, K: pd.DataFrame):
    levels = list(K.index)
    Zg = (df["g"].to_numpy()[:, None] == np.array(levels)[None, :]).astype(float)
    Z = np.zeros((len(df), 2 * len(levels)))
    Z[:, 0::2] = Zg
    Z[:, 1::2] = Zg * df["t"].to_numpy()[:, None]
    Zb = pd.get_dummies(df["blk"]).to_numpy(float)
    X = np.column_stack([np.ones(len(df)), df["t"].to_numpy()])
    return X, [(Z, K.to_numpy(), 2), (Zb, None, 1)]


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_kernel_slopes_with_missing_y_match_dense_reference(method: str) -> None:
    df, K = _data()
    res = imputer.fit_mixed_frame(df, "y", fixed=["t"], random=["(t | g)", "blk"], kernels={"(t | g)": K}, method=method)
    assert res.converged and res.n_missing == 3
    X_all, terms_all = _designs(df, K)
    obs = df["y"].notna().to_numpy()
    y = df["y"].to_numpy()[obs]
    X = X_all[obs]
    terms = [(Z[obs], Kt, d) for Z, Kt, d in terms_all]
    Gs = [res.covariances["g"].to_numpy(), res.covariances["blk"].to_numpy()]
    se = float(res.var_comp["residual"])
    assert ref.loglik(y, X, terms, Gs, se, method) == pytest.approx(res.loglik, rel=1e-10)
    # the reference from its own start (the variance of y shared out) and from ours
    v = float(np.var(y))
    own = ref.maximise(y, X, terms, [np.eye(2) * v / 4, np.eye(1) * v / 4], v / 2, method)
    ours = ref.maximise(y, X, terms, Gs, se, method)
    G_ref, se_ref, ll_ref = max(own, ours, key=lambda r: r[2])
    assert res.loglik >= ll_ref - 1e-9 * abs(ll_ref)
    for got, want in zip(Gs, G_ref):
        dg = np.maximum(np.diag(want), 1e-6 * se)
        scale = np.sqrt(np.outer(dg, dg))
        assert np.max(np.abs(got - want) / scale) <= 1e-5
    assert se == pytest.approx(se_ref, rel=1e-5)
    pred = ref.predict(y, X, terms, Gs, se, X_all, [Z for Z, _, _ in terms_all])
    np.testing.assert_allclose(res.fitted.to_numpy(), pred, rtol=1e-8)
    completed = res.completed.to_numpy()
    np.testing.assert_array_equal(completed[obs], df["y"].to_numpy()[obs])  # observed bit for bit
    np.testing.assert_allclose(completed[~obs], pred[~obs], rtol=1e-8)
