"""imputer.plot with the t and the mixture: densities colour the mixture's components; overimpute refuses them.

References: the rug of component ``k`` holds exactly the imputed values of the rows whose
most probable component (``result.labels``) is ``k`` (for a multiple imputation: those
cells of every imputation, in order), in the palette's ``k``-th colour; the KDE lines are
those of the normal's figure (scipy's ``gaussian_kde`` of the same values).
"""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from scipy.stats import gaussian_kde

import imputer
from imputer.errors import ImputerTypeError
from imputer.plot import densities, overimpute
from imputer.plot._mpl import COMPONENTS, IMPUTED
from tests.imputer.mixture.helpers import DATA, with_holes


@pytest.fixture(scope="module")
def holes() -> pd.DataFrame:
    return with_holes(pd.read_csv(DATA / "faithful.csv"), 30, 0)


@pytest.fixture(scope="module")
def mix(holes: pd.DataFrame) -> imputer.MixtureImputeResult:
    return imputer.impute_mixture(holes, 2, seed=0, n_init=2)


def _rugs(ax) -> dict[str, np.ndarray]:
    return {ln.get_label(): ln for ln in ax.get_lines() if ln.get_label().startswith("component")}


def test_mixture_fills_coloured_by_component(holes: pd.DataFrame, mix: imputer.MixtureImputeResult) -> None:
    fig = densities(mix)
    cols = [c for c in holes if holes[c].isna().any()]
    assert [ax.get_xlabel() for ax in fig.axes] == cols
    for ax, col in zip(fig.axes, cols, strict=True):
        miss = holes[col].isna().to_numpy()
        fills = mix.completed[col].to_numpy()[miss]
        labels = mix.labels.to_numpy()[miss]
        imputed_line = ax.get_lines()[1]
        x, y = imputed_line.get_data()
        np.testing.assert_allclose(y, gaussian_kde(fills)(x), rtol=1e-12)
        assert mcolors.same_color(imputed_line.get_color(), IMPUTED)
        rugs = _rugs(ax)
        assert sorted(rugs) == [f"component {k} (n={int((labels == k).sum())})" for k in np.unique(labels)]
        for k in np.unique(labels):
            line = rugs[f"component {k} (n={int((labels == k).sum())})"]
            np.testing.assert_array_equal(line.get_xdata(), fills[labels == k])
            np.testing.assert_array_equal(line.get_ydata(), 0.0)
            assert mcolors.same_color(line.get_color(), COMPONENTS[k])


def test_mixture_multiple_imputation_rugs_every_imputation(holes: pd.DataFrame) -> None:
    mi = imputer.multiple_impute(holes, 2, model="mixture", n_init=2, seed=1)
    fig = densities(mi)
    ax = fig.axes[0]
    col = ax.get_xlabel()
    miss = holes[col].isna().to_numpy()
    labels = mi.em.labels.to_numpy()[miss]
    assert len([ln for ln in ax.get_lines() if not ln.get_label().startswith("component")]) == 1 + 2
    for k, line in enumerate(sorted(_rugs(ax).values(), key=lambda ln: ln.get_label())):
        want = np.concatenate([imp[col].to_numpy()[miss][labels == k] for imp in mi.imputations])
        np.testing.assert_array_equal(line.get_xdata(), want)


def test_t_fit_draws_without_components(holes: pd.DataFrame) -> None:
    res = imputer.impute_t(holes, dof=4.0)
    fig = densities(res)
    for ax in fig.axes:
        assert not _rugs(ax) and len(ax.get_lines()) == 2


@pytest.mark.parametrize("kind", ["t", "mixture"])
def test_overimpute_refuses_other_models(holes: pd.DataFrame, mix: imputer.MixtureImputeResult, kind: str) -> None:
    res = mix if kind == "mixture" else imputer.impute_t(holes, dof=4.0)
    with pytest.raises(ImputerTypeError, match=rf"overimpute: overimputation predicts from the multivariate normal's.*{type(res).__name__}"):
        overimpute(res)
