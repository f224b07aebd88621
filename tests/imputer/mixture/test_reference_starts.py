"""Missing-data mixture EM against the direct maximisation (``tests/reference/mixture_mle.py``), more starts and a wider case.

``test_reference_agreement.py`` starts the direct maximisation near EM's estimate on two
columns. Here it starts from the *complete-data* estimate (the mixture fitted to the
data before the holes were punched, a point EM never saw), on a three-column
two-cluster sample with 15% of its cells missing: the direct maximum's log-likelihood is
never above EM's (to 1e-6) and its estimates equal EM's to 1e-5 in standard-deviation
units. (One BFGS run takes about 6 s: one case only, for the suite's time budget.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.imputer.mixture.helpers import with_holes
from tests.reference.mixture_mle import mixture_mle


def _arrays(res: imputer.MixtureImputeResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return res.weights.to_numpy(), res.means.to_numpy(), np.stack([c.to_numpy() for c in res.covs])


def _three_columns() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    a = rng.multivariate_normal([0.0, 0.0, 0.0], [[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]], 160)
    b = rng.multivariate_normal([3.0, -2.0, 1.5], [[0.6, -0.2, 0.1], [-0.2, 0.8, 0.0], [0.1, 0.0, 0.5]], 100)
    return pd.DataFrame(np.vstack([a, b]), columns=["u", "v", "w"])


@pytest.fixture(scope="module")
def case():
    complete = _three_columns()
    holes = with_holes(complete, 13, 3)
    res = imputer.impute_mixture(holes, 2, seed=1, tol=1e-10)
    full = imputer.impute_mixture(complete, 2, seed=1, tol=1e-10)
    # the complete-data estimate, its components in the order of the fit's (by the first mean)
    w, m, c = _arrays(full)
    if (np.argsort(m[:, 0]) != np.argsort(_arrays(res)[1][:, 0])).any():
        w, m, c = w[::-1], m[::-1], c[::-1]
    return res, holes.to_numpy(float), (w, m, c)


def test_em_is_the_direct_maximum_from_the_complete_data_estimate(case) -> None:
    res, x, start = case
    sd = np.nanstd(x, axis=0)
    rw, rm, rc, rll = mixture_mle(x, "full", start)
    w, m, c = _arrays(res)
    assert rll <= res.loglik + 1e-6
    np.testing.assert_allclose(rw, w, atol=1e-5)
    np.testing.assert_allclose(rm / sd, m / sd, atol=1e-5)
    np.testing.assert_allclose(rc / np.outer(sd, sd), c / np.outer(sd, sd), atol=1e-5)
