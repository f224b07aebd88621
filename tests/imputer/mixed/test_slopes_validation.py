"""Bad input to random-slope terms (bar notation, ZETA lists of Z, init matrices): clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imputer import ImputerTypeError, ImputerValueError, fit_mixed, fit_mixed_frame

RNG = np.random.default_rng(5)
N, Q = 48, 8
G = np.repeat([f"s{i}" for i in range(Q)], N // Q)
T = np.tile(np.arange(N // Q, dtype=float), Q)
DF = pd.DataFrame(
    {"y": RNG.normal(size=N) + T, "t": T, "w": RNG.normal(size=N), "g": G, "h": np.tile(["a", "b"], N // 2),
     "zero": 0.0, "txt": "u"}
)
Z1 = (G[:, None] == np.array(sorted(set(G)))[None, :]).astype(float)
Z2 = Z1 * T[:, None]


@pytest.mark.parametrize(
    ("random", "err", "match"),
    [
        (["(t | nosuch)"], ImputerValueError, r"random: column 'nosuch' is not in data"),
        (["(nosuch | g)"], ImputerValueError, r"random term '\(nosuch \| g\)': column 'nosuch' is not in data"),
        (["(txt | g)"], ImputerTypeError, r"random term '\(txt \| g\)': column 'txt' is not numeric"),
        (["(t | g | h)"], ImputerValueError, r"random: term '\(t \| g \| h\)' is malformed"),
        (["(t + | g)"], ImputerValueError, r"malformed \(an empty part between '\+' or '-' signs\)"),
        (["(0 | g)"], ImputerValueError, r"term '\(0 \| g\)' has no effect"),
        (["(t + t | g)"], ImputerValueError, r"names 't' twice"),
        (["(zero | g)"], ImputerValueError, r"random effect 'g': effect\(s\) \['zero'\] are zero on every row"),
        (["(t + w | g:h:t)"], ImputerValueError, r"random effect 'g:h:t': 48 observed y for 48 levels x 3 effects"),
    ],
)
def test_bad_bar_terms(random: list[str], err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        fit_mixed_frame(DF, "y", fixed=["t"], random=random)


def test_bar_terms_parse_like_lme4() -> None:
    a = fit_mixed_frame(DF, "y", fixed=["t"], random=["(t | g)"])
    b = fit_mixed_frame(DF, "y", fixed=["t"], random=["( 1 + t|g )"])
    assert a.loglik == b.loglik and list(a.covariances) == ["g"]
    c = fit_mixed_frame(DF, "y", fixed=["t"], random=["(0 + t | g)"])
    d = fit_mixed_frame(DF, "y", fixed=["t"], random=["(t - 1 | g)"])
    assert list(c.covariances["g"].index) == ["t"] and c.loglik == d.loglik
    assert list(c.var_comp.index) == ["g.t", "residual"]
    e = fit_mixed_frame(DF, "y", fixed=["t"], random=["g", "(0 + t | g)"])
    assert list(e.covariances) == ["g", "g.1"]  # lme4's names for two terms on one grouping
    assert isinstance(e.u["g"], pd.Series) and isinstance(e.u["g.1"], pd.DataFrame)
    # (1 | g) as a bar term is the scalar model, reported in the effects form
    f = fit_mixed_frame(DF, "y", fixed=["t"], random=["(1 | g)"])
    s = fit_mixed_frame(DF, "y", fixed=["t"], random=["g"])
    assert f.loglik == pytest.approx(s.loglik, rel=1e-12)
    np.testing.assert_allclose(f.u["g"]["(Intercept)"].to_numpy(), s.u["g"].to_numpy(), rtol=1e-9)


@pytest.mark.parametrize(
    ("zeta", "err", "match"),
    [
        ({"g": {"Z": [Z1, Z2[:, :-1]]}}, ImputerValueError, r"the matrices in Z must have the same number of columns"),
        ({"g": {"Z": [Z1, Z2], "effects": ["a"]}}, ImputerValueError, r"'effects' must name each of the 2 matrices"),
        ({"g": {"Z": [Z1, Z2], "effects": ["a", "a"]}}, ImputerValueError, r"'effects' are not unique"),
        ({"g": {"Z": [Z1, Z2], "structure": "banded"}}, ImputerValueError, r"'structure' must be 'unstructured' or 'diagonal'"),
        ({"g": {"Z": Z1, "effects": ["a"]}}, ImputerValueError, r"'effects' and 'structure' need Z as a list of matrices"),
        ({"g": {"Z": [Z1, Z2[:-1]]}}, ImputerValueError, r"Z of random effect 'g' has 47 rows but y has 48"),
        ({"g": {"Z": [Z1, Z2], "K": np.eye(3)}}, ImputerValueError, r"K of random effect 'g' is 3 x 3 but Z has 8 columns"),
        (
            {"g": {"Z": [pd.DataFrame(Z1, columns=list("abcdefgh")), pd.DataFrame(Z2, columns=list("hgfedcba"))]}},
            ImputerValueError, r"must label their columns \(levels\) alike",
        ),
    ],
)
def test_bad_zeta_lists(zeta: dict, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        fit_mixed(DF["y"], None, zeta)


@pytest.mark.parametrize(
    ("init", "err", "match"),
    [
        ([1.0, 1.0], ImputerTypeError, r"init must be a dict for a model with covariance terms"),
        ({"g": np.eye(2)}, ImputerValueError, r"init must give a start for each of \['g', 'residual'\]"),
        ({"g": np.eye(3), "residual": 1.0}, ImputerValueError, r"init\['g'\] must be a 2 x 2 matrix"),
        ({"g": np.array([[1.0, 2.0], [2.0, 1.0]]), "residual": 1.0}, ImputerValueError, r"symmetric positive definite"),
        ({"g": pd.DataFrame(np.eye(2), index=["a", "b"], columns=["a", "b"]), "residual": 1.0}, ImputerValueError, r"labelled by the effects"),
        ({"g": np.eye(2), "residual": 0.0}, ImputerValueError, r"init variances must be positive"),
    ],
)
def test_bad_init_for_covariance_terms(init: object, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        fit_mixed_frame(DF, "y", fixed=["t"], random=["(t | g)"], init=init)


def test_init_matrix_reaches_the_same_optimum() -> None:
    base = fit_mixed_frame(DF, "y", fixed=["t"], random=["(t | g)"])
    start = pd.DataFrame([[2.0, 0.1], [0.1, 0.5]], index=["(Intercept)", "t"], columns=["(Intercept)", "t"])
    other = fit_mixed_frame(DF, "y", fixed=["t"], random=["(t | g)"], init={"g": start, "residual": 1.0})
    assert other.loglik == pytest.approx(base.loglik, rel=1e-10)
    with pytest.raises(ImputerValueError, match=r"independent effects \('\|\|'\); give a diagonal matrix"):
        fit_mixed_frame(DF, "y", fixed=["t"], random=["(t || g)"], init={"g": start, "residual": 1.0})
