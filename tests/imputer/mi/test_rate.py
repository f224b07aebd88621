"""The EM rate and the default chain lengths.

Reference for the rate: the definition, the ratio of successive changes of plain EM,
``||theta_{k+1} - theta_k|| / ||theta_k - theta_{k-1}||`` at a late iteration (the first whose change is below 1e-6), computed
from ``imputer.impute(accelerate=False, max_iter=k)`` (the k-th plain-EM iterate; a
different code path: the EM driver, not finite differences at the estimate).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import imputer
from imputer._gaussian.patterns import build_patterns
from imputer.mi._rate import MAX_BURN_IN, MAX_THIN, chain_lengths, em_rate
from imputer.mvn._engine import run
from imputer.mvn._fit import standardise
from imputer.mvn._scaling import scaling_of
from tests.imputer.mi.simulate import mar_table


def _theta(df, k: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = imputer.impute(df, accelerate=False, max_iter=k, tol=1e-300)
    sd = np.sqrt(np.nanvar(df.to_numpy(), axis=0))  # standardised units, as the engine's packing
    cov = r.cov.to_numpy() / np.outer(sd, sd)
    return np.concatenate([r.mean.to_numpy() / sd, cov[np.tril_indices(cov.shape[0])]])


@pytest.mark.parametrize(("n", "p", "rate", "seed"), [(300, 3, 0.3, 1), (200, 4, 0.5, 2)])
def test_rate_is_the_late_ratio_of_plain_em_changes(n: int, p: int, rate: float, seed: int) -> None:
    df, _, _ = mar_table(n, p, seed=seed, rate=rate)
    values = tuple(df[c].to_numpy() for c in df.columns)
    mask = df.isna().to_numpy()
    scaling = scaling_of(tuple(df.columns), values, mask)
    patterns = build_patterns(mask)
    out = run(values, patterns, scaling, tol=1e-12, max_iter=1000, ridge=0.0, accelerate=True, fill=False)
    est = em_rate(standardise(patterns, values, scaling), out.fit.mu, out.fit.sigma, 0.0)
    # the first k whose change is below 1e-6: late enough to be linear, early enough for rounding
    k, t0, t1 = 5, _theta(df, 4), _theta(df, 5)
    while np.linalg.norm(t1 - t0) > 1e-6:
        k, t0, t1 = k + 1, t1, _theta(df, k + 1)
    t2 = _theta(df, k + 1)
    ref = np.linalg.norm(t2 - t1) / np.linalg.norm(t1 - t0)
    assert 0.05 < ref < 0.95
    assert est.rate == pytest.approx(ref, rel=0.01)
    # the direction of slowest convergence is that of late plain-EM changes
    d = (t2 - t1) / np.linalg.norm(t2 - t1)
    assert abs(float(d @ est.direction)) > 0.98
    assert est.n_evals <= 31


@pytest.mark.parametrize(
    ("rate", "burn_in", "thin"),
    [(0.0, 1, 1), (0.04, 3, 1), (0.3, 8, 3), (0.5, 14, 5), (0.9, 88, 29)],
)
def test_chain_lengths(rate: float, burn_in: int, thin: int) -> None:
    # thin: smallest k with rate^k <= 0.05; burn_in: smallest b >= thin with rate^b <= 1e-4
    assert chain_lengths(rate) == (burn_in, thin, False)
    if rate > 0:
        assert rate**thin <= 0.05 < (rate ** (thin - 1) if thin > 1 else 1.0)
        assert rate**burn_in <= 1e-4 or burn_in == thin


def test_chain_lengths_are_capped_near_rate_one() -> None:
    burn, thin, capped = chain_lengths(0.9999)
    assert (burn, thin, capped) == (MAX_BURN_IN, MAX_THIN, True)
    assert math.isfinite(burn)


def test_a_singular_estimate_has_rate_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from imputer._gaussian.linalg import Infeasible
    from imputer.mi import _rate

    df, _, _ = mar_table(50, 3, seed=1)
    values = tuple(df[c].to_numpy() for c in df.columns)
    mask = df.isna().to_numpy()
    scaling = scaling_of(tuple(df.columns), values, mask)
    patterns = build_patterns(mask)
    out = run(values, patterns, scaling, tol=1e-10, max_iter=1000, ridge=0.0, accelerate=True, fill=False)

    def fail(*args, **kwargs):
        raise Infeasible("not positive definite")

    monkeypatch.setattr(_rate, "em_update", fail)
    est = em_rate(standardise(patterns, values, scaling), out.fit.mu, out.fit.sigma, 0.0)
    assert est.rate == 1.0 and chain_lengths(est.rate)[2]
